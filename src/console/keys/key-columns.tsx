import type { ComponentChildren } from 'preact';
import { Time } from '../ui/time.tsx';
import type { ApiKey } from './types.ts';

/** A column of the key list: its header and what a key shows in it. */
export interface KeyColumn {
  id: string;
  header: string;
  cell: (key: ApiKey) => ComponentChildren;
}

/**
 * The key list's columns after the name, in order. A field the key object gains is a line here: the environment and
 * the permissions (which take over from `access`), and `lastUsedFrom` beside "Last used", as those APIs land.
 */
export const KEY_COLUMNS: readonly KeyColumn[] = [
  { id: 'prefix', header: 'Key', cell: (key) => <code class="key-prefix">{key.keyPrefix}</code> },
  { id: 'access', header: 'Access', cell: (key) => (key.access === 'full' ? 'Full access' : 'Read only') },
  { id: 'rate-limit', header: 'Rate limit', cell: (key) => `${key.rateLimit.toLocaleString()} / min` },
  { id: 'created', header: 'Created', cell: (key) => <Time iso={key.createdAt} /> },
  {
    id: 'expires',
    header: 'Expires',
    cell: (key) => (key.expirationTs === null ? 'Never' : <Time iso={key.expirationTs} relative />),
  },
  {
    id: 'last-used',
    header: 'Last used',
    cell: (key) => (key.lastUsed === null ? 'Never' : <Time iso={key.lastUsed} relative />),
  },
];
