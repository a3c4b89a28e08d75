import type { Environment } from '../../lib/permissions.ts';

/**
 * Each environment a key can be made for, production (the default) first. A record, so an environment the spec adds
 * (Environment.yaml) fails the type check here until it is listed.
 */
const ORDER: Record<Environment, number> = { production: 0, staging: 1, development: 2 };

/** The environments, in the order the console offers them. */
export const ENVIRONMENTS = (Object.keys(ORDER) as Environment[]).sort((a, b) => ORDER[a] - ORDER[b]);
