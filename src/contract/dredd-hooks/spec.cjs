// The strict spec, as the Dredd hooks read it: each transaction's operation, its response schema as a JSON Schema
// Gavel (draft-07) reads, the headers Dredd should expect, and what an operation takes (credentials, an
// Idempotency-Key, permissions).

/** Adds the spec readers to `run`. */
module.exports = function specReaders(run) {
  const { spec } = run;

  function operationOf(transaction) {
    const method = transaction.request.method.toLowerCase();
    const operation = spec.paths?.[transaction.origin.resourceName]?.[method];
    if (!operation) {
      throw new Error(`no operation ${method.toUpperCase()} ${transaction.origin.resourceName} in the spec`);
    }
    return operation;
  }

  function responseSchema(operation, status) {
    const schema = operation.responses?.[status]?.content?.['application/json']?.schema;
    if (!schema) {
      throw new Error(`response ${status} of ${operation.operationId} has no application/json schema`);
    }
    // The strict spec is inlined; Gavel's Ajv (draft-07) checks everything but unevaluatedProperties, which
    // Prism (2020-12) checks on the same response.
    return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema });
  }

  /**
   * Dredd expects every header the response declares; a header the spec marks optional (`required` not true:
   * Deprecation, Sunset, Idempotent-Replayed, …) is dropped from its expectations. Prism and the observer
   * still check an optional header whenever it is sent.
   */
  function dropOptionalHeaders(transaction, operation, status) {
    const declared = Object.entries(operation.responses?.[status]?.headers ?? {});
    const expected = transaction.expected.headers ?? {};
    for (const name of Object.keys(expected)) {
      const header = declared.find(([declaredName]) => declaredName.toLowerCase() === name.toLowerCase())?.[1];
      if (header && header.required !== true) {
        delete expected[name];
      }
    }
  }

  /** The security schemes an operation accepts (its own requirement, else the document's). */
  function schemesOf(operation) {
    const requirements = Array.isArray(operation.security) ? operation.security : (spec.security ?? []);
    return requirements.flatMap((requirement) => Object.keys(requirement));
  }
  /** `public` (no credentials), `user` (a user token), `signature` (a secret scanner's) or `key` (an API key). */
  function credentialKind(operation) {
    const schemes = schemesOf(operation);
    if (schemes.length === 0) {
      return 'public';
    }
    if (
      schemes.every((scheme) => /^Github-Public-Key-/i.test(spec.components?.securitySchemes?.[scheme]?.name ?? ''))
    ) {
      return 'signature';
    }
    return schemes.every((scheme) => spec.components?.securitySchemes?.[scheme]?.bearerFormat?.startsWith('mru_')) ||
      schemes.includes('userToken')
      ? 'user'
      : 'key';
  }
  const takesIdempotencyKey = (transaction, operation) =>
    [...(spec.paths?.[transaction.origin.resourceName]?.parameters ?? []), ...(operation.parameters ?? [])].some(
      (parameter) => parameter?.in === 'header' && parameter?.name?.toLowerCase() === 'idempotency-key',
    );
  const organizationScoped = (transaction) => transaction.origin.resourceName.includes('{organizationId}');

  /** Every permission a key can carry (the spec's Permission enum). */
  const ALL_PERMISSIONS = spec.components?.schemas?.Permission?.enum ?? [];
  /** The permissions an operation needs: the scopes of its API-key security requirements. */
  const permissionsOf = (operation) => [
    ...new Set((operation.security ?? []).flatMap((requirement) => Object.values(requirement).flat())),
  ];

  return {
    operationOf,
    responseSchema,
    dropOptionalHeaders,
    schemesOf,
    credentialKind,
    takesIdempotencyKey,
    organizationScoped,
    ALL_PERMISSIONS,
    permissionsOf,
  };
};
