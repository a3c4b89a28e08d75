import { DEFAULT_PLANS } from '../../src/rate-limit/plans.ts';
import { startServer } from '../../src/server/index.ts';
import { describeClientBehaviour } from './helpers/behaviour.ts';

describeClientBehaviour({ name: 'reference server with --scenarios', stateless: false, canned: true }, async () => {
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    store: { kind: 'pglite' },
    logLevel: 'silent',
    scenarios: true,
    plans: {
      ...DEFAULT_PLANS,
      // One window, so the binding window (and X-RateLimit-Remaining) is the same on every call.
      steady: { windows: [{ name: 'minute', limit: 1000, windowSeconds: 60 }] },
      tiny: { windows: [{ name: 'minute', limit: 3, windowSeconds: 60 }] },
    },
  });
  const main = await server.createApiKey({ name: 'Client suite', organization: 'client-suite', plan: 'steady' });
  const tiny = await server.createApiKey({ name: 'Tiny', organization: 'client-suite-tiny', plan: 'tiny' });
  return { url: server.url, apiKey: main.plaintext, tinyPlanKey: tiny.plaintext, close: server.close };
});
