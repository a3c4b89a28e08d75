// Bench ceiling: node:http answering GET /v1/api-keys/validate with the reference server's body bytes
// (BENCH_BODY), precomputed: nothing on the request path but writing them.
// Usage: BENCH_BODY='{"success":true,...}' node scripts/bench/raw-server.mjs --port N [--host H]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } } });
const body = Buffer.from(process.env.BENCH_BODY ?? '{"success":true}');
const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length) };

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/v1/api-keys/validate') {
    res.writeHead(200, headers);
    res.end(body);
    return;
  }
  res.writeHead(404, { 'Content-Length': '0' });
  res.end();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port ?? 0), values.host, () => {
  console.log(`bench raw listening on ${values.host}:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
