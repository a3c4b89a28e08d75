import { PERMISSIONS, type Permission } from '../../generated/permissions.js';
import type { components } from '../../generated/schema.d.ts';

/**
 * The spec's permissions, shared by the server, the CLI and the client. Written once, as the `x-permissions` table of
 * openapi/components/schemas/Permission.yaml; `npm run generate` turns it into generated/permissions.js (with its
 * .d.ts), re-exported here with the few rules every part applies to them.
 */
export { PERMISSIONS, type Permission };

/** Where a key is used: development, staging or production. */
export type Environment = components['schemas']['Environment'];

/** The environment of a key made without one. */
export const DEFAULT_ENVIRONMENT: Environment = 'production';

/** Every permission, in the spec's order: what a `full` key, and a key made without `permissions`, holds. */
export const ALL_PERMISSIONS: readonly Permission[] = Object.freeze(PERMISSIONS.map((entry) => entry.permission));

/** Every `:read` permission: what a `read_only` key holds. */
export const READ_PERMISSIONS: readonly Permission[] = Object.freeze(
  ALL_PERMISSIONS.filter((permission) => permission.endsWith(':read')),
);

/** `full` (every permission), `read_only` (every `:read`), or `restricted` (any other set). */
export type KeyAccess = 'full' | 'read_only' | 'restricted';

/** The shorthand a key create accepts for a permission set. */
export type AccessShorthand = Exclude<KeyAccess, 'restricted'>;

/** The permissions an `access` shorthand stands for. */
export function permissionsOfAccess(access: AccessShorthand): readonly Permission[] {
  return access === 'full' ? ALL_PERMISSIONS : READ_PERMISSIONS;
}

/** `permissions` in the spec's order, each once. */
export function orderPermissions(permissions: Iterable<string>): Permission[] {
  const held = new Set(permissions);
  return ALL_PERMISSIONS.filter((permission) => held.has(permission));
}

/** The shorthand of a permission set: `full`, `read_only`, or `restricted` for any other set. */
export function accessOf(permissions: readonly string[]): KeyAccess {
  const held = new Set(permissions);
  const same = (set: readonly Permission[]) => held.size === set.length && set.every((p) => held.has(p));
  return same(ALL_PERMISSIONS) ? 'full' : same(READ_PERMISSIONS) ? 'read_only' : 'restricted';
}

/** The permissions of `wanted` that `held` lacks, in the spec's order. */
export function missingPermissions(held: readonly string[], wanted: readonly string[]): Permission[] {
  const holds = new Set(held);
  return orderPermissions(wanted.filter((permission) => !holds.has(permission)));
}
