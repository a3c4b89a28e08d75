// The contract run's model of state across requests: rules read from the spec (rules.ts), a passive model the
// observer hands every exchange to (model.ts) and the active `state` phase (flows.ts).
export { STATE_CHECKS, type StateCheck, type StateFinding } from './checks.ts';
export { runStateFlows, type StateFlowOptions } from './flows.ts';
export { StateModel, type StateTally } from './model.ts';
export { type ResourceRule, readStateRules, type StateRules } from './rules.ts';
