// Dredd hooks of a contract run (src/contract/dredd.ts starts Dredd with them). Dredd 14 loads Node.js
// hooks with require() through proxyquire, which injects the `hooks` module: hence CommonJS.
//
// Every transaction of the spec (one per documented operation × status) is arranged through the public API only, so
// the target really produces the documented status: credentials for 2xx (X-API-Key and Authorization: Bearer in
// turn), each 401 cause in turn, resources created for get / rename / revoke / delete, an unknown id for 404, a
// duplicate email for 409, malformed JSON for 400, text/plain for 415, a 110 KiB body for 413, PUT for 405, an
// invalid body or query for 422, a key lacking the permission (or a read_only key, or one asking for more than it
// holds) for 403, a key whose own one-request-a-minute window is spent for 429. What only a cooperative server can
// produce (500, 503) is forced with `Prefer: code=…` when the target honours it, and skipped as "needs scenarios"
// otherwise. Webhook endpoints point at the run's receiver on 127.0.0.1 (the target must allow private webhooks); a
// delivery is an endpoint's test ping; a secret scanner's report is signed with the private key the run was given
// (`signature` credentials), and without one the pairs only a known signer reaches are skipped with the reason. The
// 429 of the operations not counted (only a locked-out client address gets it) and of those counted per
// client address (sign-up, log-in) run last, in a second Dredd run, because spending this address's windows would
// refuse everything after them; so does a sandbox's reset, which wipes what the run made. An `x-sandbox-only`
// operation is never sent to a target the run was not told is a sandbox.
//
// Arrangements are by status and by the operation's security, never by path: an operation taking a user token (the
// `userToken` scheme) gets one of the run's throwaway owners (or the member for 403, the user whose own window is
// spent for 429), its path ids are real ones of the owners' organization, and a 404 is another organization's id; an
// API-key operation gets the caller's key. Any operation's 400 is a malformed JSON body (the server reads and checks
// every body, GET and DELETE included), its 431 an oversized header. Each transaction of an operation that takes an
// Idempotency-Key sends a fresh one.
//
// Every request goes to the run's observer (Dredd's endpoint), which sends it through Prism's validating proxy and
// checks header semantics; each carries an X-Request-Id naming its transaction. Response bodies are also validated
// here against the strict spec's schema (`expected.bodySchema`), because Dredd's OpenAPI 3 parser never produces one.
//
// The modules, in src/contract/dredd-hooks/: context.cjs (what the runner wrote, the shared state, HTTP, the
// resources arrangements make), spec.cjs (reading the strict spec), transaction.cjs (editing a transaction),
// windows.cjs (spending windows for 429s), arrange-success.cjs (2xx), arrange-credentials.cjs (401, 403),
// arrange-input.cjs (400, 405, 413, 415, 422, 431), arrange-state.cjs (404, 409), arrange-limits.cjs (429, forced),
// registration.cjs (the hooks Dredd calls).

const { createRun } = require('./dredd-hooks/context.cjs');
const specReaders = require('./dredd-hooks/spec.cjs');
const transactionEditors = require('./dredd-hooks/transaction.cjs');
const windowSpenders = require('./dredd-hooks/windows.cjs');
const arrangeSuccess = require('./dredd-hooks/arrange-success.cjs');
const arrangeCredentials = require('./dredd-hooks/arrange-credentials.cjs');
const arrangeInput = require('./dredd-hooks/arrange-input.cjs');
const arrangeState = require('./dredd-hooks/arrange-state.cjs');
const arrangeLimits = require('./dredd-hooks/arrange-limits.cjs');
const { register } = require('./dredd-hooks/registration.cjs');

/** The run object with every module's functions, and `arrangeByStatus`: status → arrangement. */
function createHooksRun(contextPath) {
  const run = createRun(contextPath);
  for (const add of [specReaders, transactionEditors, windowSpenders]) {
    Object.assign(run, add(run));
  }
  run.arrangeByStatus = {};
  for (const add of [arrangeSuccess, arrangeCredentials, arrangeInput, arrangeState, arrangeLimits]) {
    const { arrangements, ...rest } = add(run);
    Object.assign(run.arrangeByStatus, arrangements);
    Object.assign(run, rest);
  }
  return run;
}

let hooks;
try {
  hooks = require('hooks');
} catch {
  hooks = undefined;
}
if (hooks) {
  register(hooks, createHooksRun(process.env.MAILROOM_CONTRACT_CONTEXT));
}
