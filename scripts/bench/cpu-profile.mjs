// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time of a window went: by component
// of the request path (each sample is charged to the innermost frame that belongs to a known
// component, so Node's own http code called by, say, the rate-limit middleware counts as rate
// limiting) and by function (self time).
import { pathToFileURL } from 'node:url';
import { root } from './lib.mjs';

const rootUrl = `${pathToFileURL(root).href}/`;

/** Components of the request path: project files by path, packages by name. First match wins. */
const PROJECT_COMPONENTS = [
  [
    /^(?:src|dist)\/server\/(authenticate|credentials|caller|key-cache)|^(?:src|dist)\/keys\/|^(?:src|dist)\/lib\/permissions/,
    'authentication and permissions (parse, checksum, key cache, HMAC, caller, roles)',
  ],
  [
    /^(?:src|dist)\/server\/(usage-recorder|last-used|latest-use-batch|session-use)|^(?:src|dist)\/webhooks\/anomaly|^(?:src|dist)\/store\/sql-usage/,
    'recording (request log record and batch, lastUsed, anomaly watch)',
  ],
  [/^(?:src|dist)\/rate-limit\//, 'rate limiting (limiter, decision, headers)'],
  [/^(?:src|dist)\/server\/(operations|input-check)/, 'operation match and input check'],
  [/^(?:src|dist)\/server\/errors/, 'error handler (error envelope)'],
  [/^(?:src|dist)\/server\/(app|admit|pipeline|body)\.[jt]s/, 'pipeline (request id, stages, body reading)'],
  [/^(?:src|dist)\/server\/http-edge/, 'HTTP edge (parser errors, header count)'],
  [/^(?:src|dist)\/server\/(idempotency|scenarios)/, 'idempotency and scenarios stages'],
  [/^(?:src|dist)\/server\/(routes|serialize)/, 'route handler'],
  [/^(?:src|dist)\/server\/(?:send-json|context)/, 'response writing (sendJson and what Node does for it)'],
  [/^(?:src|dist)\/server\/logger/, 'logging (pino, access log)'],
  [/^(?:src|dist)\/store\//, 'store (PGlite)'],
];
const PACKAGE_COMPONENTS = [
  [/^(rate-limiter-flexible)$/, 'rate limiting (limiter, decision, headers)'],
  [/^(body-parser|type-is|content-type|raw-body|media-typer|iconv-lite|bytes)$/, 'body reading (express.raw)'],
  [/^(express-openapi-validator|ajv|ajv-formats|ajv-draft-04|path-to-regexp@6)$/, 'express-openapi-validator (ajv)'],
  [
    /^(pino|pino-std-serializers|sonic-boom|fast-redact|@pinojs\/redact|quick-format-unescaped|thread-stream|on-exit-leak-free|atomic-sleep|safe-stable-stringify)$/,
    'logging (pino, access log)',
  ],
  [/^(@electric-sql\/pglite)$/, 'store (PGlite)'],
  [/^(express)$/, 'Express (app, req/res helpers, res.json)'],
  [
    /^(router|parseurl|path-to-regexp|on-finished|finalhandler|ee-first|encodeurl|escape-html|depd|debug|ms|forwarded|proxy-addr|ipaddr\.js|statuses|vary|qs|mime-types|mime-db|setprototypeof|http-errors|fresh|range-parser|etag|send|serve-static|cookie|cookie-signature|accepts|negotiator|content-disposition|safe-buffer)$/,
    'Express routing (router and helpers)',
  ],
];

function componentOf(url) {
  if (!url) {
    return null;
  }
  if (url.startsWith('wasm://')) {
    return 'store (PGlite)';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg) {
    // express-openapi-validator brings its own path-to-regexp; Express 5's router uses the top-level one.
    const nested = /node_modules\/express-openapi-validator\/node_modules\//.test(url);
    for (const [pattern, name] of PACKAGE_COMPONENTS) {
      if (pattern.test(nested && pkg === 'path-to-regexp' ? 'path-to-regexp@6' : pkg)) {
        return name;
      }
    }
    return `other package: ${pkg}`;
  }
  if (url.startsWith(rootUrl)) {
    const relative = url.slice(rootUrl.length);
    for (const [pattern, name] of PROJECT_COMPONENTS) {
      if (pattern.test(relative)) {
        return name;
      }
    }
    return `project: ${relative}`;
  }
  return null; // node: internals and native code: charged to whoever called them
}

function frameLabel(callFrame) {
  const url = callFrame.url
    .replace(/^.*node_modules\//, '')
    .replace(rootUrl, '')
    .replace(/^file:\/\//, '');
  return `${callFrame.functionName || '(anonymous)'} ${url}${url ? `:${callFrame.lineNumber + 1}` : ''}`;
}

/**
 * Where the samples between `fromUs` and `toUs` (profile clock, microseconds; default: the whole
 * profile) went. Returns busy/idle time and components and functions with their share of busy time.
 */
export function summarizeProfile(profile, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node.id);
    }
  }
  const components = new Map();
  const functions = new Map();
  let total = 0;
  let idle = 0;
  let time = profile.startTime;
  const times = profile.timeDeltas.map((delta) => {
    time += delta;
    return time;
  });
  for (let i = 0; i < profile.samples.length; i++) {
    const at = times[i];
    if (at < fromUs || at > toUs) {
      continue;
    }
    const weight = (times[i + 1] ?? at) - at;
    total += weight;
    const node = nodes.get(profile.samples[i]);
    const name = node.callFrame.functionName;
    if (name === '(idle)') {
      idle += weight;
      continue;
    }
    let component = null;
    if (name === '(garbage collector)') {
      component = 'garbage collection';
    } else if (name === '(program)') {
      component = '(program: V8 and native, unattributed)';
    } else {
      for (let id = node.id; id !== undefined && component === null; id = parent.get(id)) {
        const frame = nodes.get(id).callFrame;
        if (frame.functionName === '(root)') {
          break;
        }
        component = componentOf(frame.url);
      }
      component ??= 'Node.js http/net (parsing, writing, timers)';
    }
    components.set(component, (components.get(component) ?? 0) + weight);
    const label = frameLabel(node.callFrame);
    functions.set(label, (functions.get(label) ?? 0) + weight);
  }
  const busy = total - idle;
  const rank = (map) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, us, share: busy > 0 ? us / busy : 0 }));
  return { totalUs: total, busyUs: busy, idleUs: idle, components: rank(components), functions: rank(functions) };
}

/** The summary as text; with `requests`, each component's share is also shown in µs per request. */
export function formatSummary(summary, { requests, top = 25 } = {}) {
  const pct = (share) => `${(share * 100).toFixed(1).padStart(5)} %`;
  const perRequest = (us) => (requests ? `${(us / requests).toFixed(1).padStart(7)} µs/req` : '');
  const lines = [
    `Window ${(summary.totalUs / 1e6).toFixed(1)} s: busy ${(summary.busyUs / 1e6).toFixed(1)} s ` +
      `(${((100 * summary.busyUs) / (summary.totalUs || 1)).toFixed(0)} %), idle ${(summary.idleUs / 1e6).toFixed(1)} s` +
      (requests ? `; ${requests} requests, ${(summary.busyUs / requests).toFixed(1)} µs busy per request` : ''),
    '',
    'By component (share of busy time; Node internals charged to the component that called them):',
    ...summary.components.map((c) => `  ${pct(c.share)} ${perRequest(c.us)}  ${c.name}`),
    '',
    `Top ${top} functions by self time:`,
    ...summary.functions.slice(0, top).map((f) => `  ${pct(f.share)}  ${f.name}`),
  ];
  return lines.join('\n');
}
