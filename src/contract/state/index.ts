// The contract run's model of state across requests: rules read from the spec (rules.ts), a passive model the
// observer hands every exchange to (model.ts), the active `state` phase (flows.ts) and the sign-in spray (spray.ts).
export { STATE_CHECKS, type StateCheck, type StateFinding } from './checks.ts';
export { runStateFlows, type StateFlowOptions } from './flows.ts';
export { StateModel, type StateTally } from './model.ts';
export { type ResourceRule, readStateRules, type StateRules } from './rules.ts';
export { runSignInSpray, SIGN_IN_CHECKS, type SprayOptions } from './spray.ts';
