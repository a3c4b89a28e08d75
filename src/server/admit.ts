import type { Response } from 'express';
import type { LimitDecision } from '../rate-limit/decision.ts';
import { describeRefusal, writeRateLimitHeaders } from '../rate-limit/headers.ts';
import { rateLimited, rateLimitStoreDown } from './errors.ts';

/** Sets the decision's rate-limit headers, and refuses the request (429, or 503 in an outage) when the decision does. */
export function admit(res: Response, decision: LimitDecision, what?: string): void {
  writeRateLimitHeaders(res, decision);
  if (decision.outage) {
    throw rateLimitStoreDown();
  }
  if (!decision.allowed) {
    throw rateLimited(describeRefusal(decision, what));
  }
}

/** Headers of a decision on a response that is refused for another reason (no Retry-After); outages still 503. */
export function admitNothing(res: Response, decision: LimitDecision): void {
  writeRateLimitHeaders(res, decision, false);
  if (decision.outage) {
    throw rateLimitStoreDown();
  }
}
