import { PERMISSIONS } from '../../lib/permissions.ts';
import { callerFrom, type OperationHandler, send } from '../context.ts';
import type { Operation } from '../operations.ts';

/** The API-key security schemes, whose requirements name permissions (a user token's name roles). */
const API_KEY_SCHEMES = new Set(['bearerAuth', 'apiKeyHeader']);

/** The permission an operation's security requirement names for an API key, if any (the spec's scope). */
export function permissionOf(operation: Operation): string | undefined {
  for (const alternative of operation.security) {
    for (const [scheme, scopes] of Object.entries(alternative)) {
      if (API_KEY_SCHEMES.has(scheme) && scopes[0] !== undefined) {
        return scopes[0];
      }
    }
  }
  return undefined;
}

/**
 * The handler of `GET /v1/permissions`: every permission with its description (the spec's `x-permissions` table),
 * the operations whose security names it (read from the compiled spec, so no list is kept by hand), and whether the
 * calling key holds it.
 */
export function listPermissionsHandler(operations: () => readonly Operation[]): OperationHandler {
  let opened: Map<string, { operationId: string; method: string; path: string }[]> | undefined;
  return async (req, res) => {
    opened ??= operationsByPermission(operations());
    const held = new Set<string>(callerFrom(req).permissions);
    send(res, 'listPermissions', 200, {
      success: true,
      data: PERMISSIONS.map(({ permission, description }) => ({
        permission,
        description,
        operations: opened?.get(permission) ?? [],
        granted: held.has(permission),
      })),
      meta: { total: PERMISSIONS.length },
    });
  };
}

function operationsByPermission(operations: readonly Operation[]) {
  const opened = new Map<string, { operationId: string; method: string; path: string }[]>();
  for (const operation of operations) {
    const permission = permissionOf(operation);
    if (permission !== undefined) {
      const list = opened.get(permission) ?? [];
      list.push({ operationId: operation.id, method: operation.method, path: operation.path });
      opened.set(permission, list);
    }
  }
  return opened;
}
