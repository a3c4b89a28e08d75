import type { ComponentChildren } from 'preact';
import { accessOf } from '../../lib/permissions.ts';
import { Time } from '../ui/time.tsx';
import type { ApiKey } from './types.ts';

/** A column of the key list: its header and what a key shows in it. */
export interface KeyColumn {
  id: string;
  header: string;
  cell: (key: ApiKey) => ComponentChildren;
}

/** A key's permissions in a few words: "Full access", "Read only", or the list itself. */
export function describePermissions(permissions: readonly string[]): ComponentChildren {
  const access = accessOf(permissions);
  if (access !== 'restricted') {
    return access === 'full' ? 'Full access' : 'Read only';
  }
  return (
    <ul class="inline-list">
      {permissions.map((permission) => (
        <li key={permission}>
          <code>{permission}</code>
        </li>
      ))}
    </ul>
  );
}

/** The key list's columns after the name, in order. A field the key object gains is a line here. */
export const KEY_COLUMNS: readonly KeyColumn[] = [
  { id: 'prefix', header: 'Key', cell: (key) => <code class="key-prefix">{key.keyPrefix}</code> },
  { id: 'environment', header: 'Environment', cell: (key) => <span class="env">{key.environment}</span> },
  { id: 'permissions', header: 'Permissions', cell: (key) => describePermissions(key.permissions) },
  { id: 'rate-limit', header: 'Rate limit', cell: (key) => `${key.rateLimit.toLocaleString()} / min` },
  { id: 'created', header: 'Created', cell: (key) => <Time iso={key.createdAt} dateOnly /> },
  {
    id: 'expires',
    header: 'Expires',
    cell: (key) => (key.expirationTs === null ? 'Never' : <Time iso={key.expirationTs} relative />),
  },
  {
    id: 'last-used',
    header: 'Last used',
    cell: (key) =>
      key.lastUsed === null ? (
        'Never'
      ) : (
        <span class="origin">
          <Time iso={key.lastUsed} relative />
          {key.lastUsedFrom && <span class="muted">from {key.lastUsedFrom}</span>}
        </span>
      ),
  },
];
