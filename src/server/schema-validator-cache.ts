import { createRequire } from 'node:module';

// express-openapi-validator 5.6 compiles the OpenAPI meta-schema with Ajv in every middleware it builds
// (framework/openapi.schema.validator.js), even with `validateApiSpec: false`, where it never validates anything with
// it: about half a second of CPU each, and the server builds one middleware per spec path. The compiled validator holds
// no state, so one per (OpenAPI version, validateApiSpec) can serve every middleware of the process.

const require = createRequire(import.meta.url);

interface SchemaValidator {
  validate(doc: unknown): { errors: unknown[] };
}
type SchemaValidatorClass = (new (opts: {
  version: string;
  validateApiSpec: boolean;
}) => SchemaValidator) & {
  sharedBy?: 'mailroom';
};

/**
 * Makes express-openapi-validator build its OpenAPI meta-schema validator once per (version, validateApiSpec) rather
 * than once per middleware. Idempotent; returns false (and changes nothing) when the library no longer has the class
 * where 5.6 keeps it, so a later release that moved it still works, only slower to build.
 */
export function shareSchemaValidators(): boolean {
  let holder: { OpenAPISchemaValidator?: SchemaValidatorClass };
  try {
    holder = require('express-openapi-validator/dist/framework/openapi.schema.validator.js');
  } catch {
    return false;
  }
  const Original = holder.OpenAPISchemaValidator;
  if (typeof Original !== 'function') {
    return false;
  }
  if (Original.sharedBy === 'mailroom') {
    return true;
  }
  const compiled = new Map<string, SchemaValidator>();
  const Shared = function SharedSchemaValidator(opts: { version: string; validateApiSpec: boolean }) {
    const key = `${opts.version}\u0000${opts.validateApiSpec}`;
    let validator = compiled.get(key);
    if (!validator) {
      validator = new Original(opts);
      compiled.set(key, validator);
    }
    return validator;
  } as unknown as SchemaValidatorClass;
  Shared.sharedBy = 'mailroom';
  holder.OpenAPISchemaValidator = Shared;
  return true;
}

/**
 * Loads express-openapi-validator and compiles its meta-schema validator for `version` (as every request validator
 * the server builds asks for it), so the first request that needs a validator builds only its own path's. Each step
 * runs in its own turn of the event loop; `isStopped` ends the warm-up early (a server closed meanwhile).
 */
export function warmSchemaValidators(version: string, onError: (error: Error) => void, isStopped = () => false): void {
  const steps = [
    () => require('express-openapi-validator'),
    () => {
      if (shareSchemaValidators()) {
        const holder = require('express-openapi-validator/dist/framework/openapi.schema.validator.js') as {
          OpenAPISchemaValidator: SchemaValidatorClass;
        };
        new holder.OpenAPISchemaValidator({ version, validateApiSpec: false });
      }
    },
  ];
  const next = () => {
    const step = steps.shift();
    if (step === undefined || isStopped()) {
      return;
    }
    try {
      step();
    } catch (error) {
      onError(error as Error);
      return;
    }
    setImmediate(next).unref();
  };
  setImmediate(next).unref();
}
