// Bench baseline: a bare Express route answering GET /v1/api-keys/validate with the same JSON body
// as the reference server (passed in BENCH_BODY), under the same app settings (no ETag, no
// X-Powered-By) but with no enforcement at all: no validation, authentication, rate limiting or logging.
// Usage: BENCH_BODY='{"success":true,...}' node scripts/bench/express-server.mjs --port N [--host H]
import { parseArgs } from 'node:util';
import express from 'express';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } } });
const body = JSON.parse(process.env.BENCH_BODY ?? '{"success":true}');

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.set('json spaces', 0);
app.get('/v1/api-keys/validate', (_req, res) => {
  res.json(body);
});

const server = app.listen(Number(values.port ?? 0), values.host, () => {
  server.keepAliveTimeout = 65_000;
  console.log(`bench express listening on ${values.host}:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
