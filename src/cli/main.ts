import { Command, InvalidArgumentError, Option } from 'commander';
import { completeApiKey, generateApiKey } from '../keys/api-key.ts';
import { issueApiKey } from '../keys/issue.ts';
import { DEFAULT_GRACE_MINUTES, MAX_GRACE_MINUTES, rotateApiKey } from '../keys/rotate.ts';
import {
  ALL_PERMISSIONS,
  accessOf,
  DEFAULT_ENVIRONMENT,
  orderPermissions,
  type Permission,
  permissionsOfAccess,
} from '../lib/permissions.ts';
import { VERSION } from '../lib/version.ts';
import {
  DEFAULT_ACCOUNT_WINDOWS,
  DEFAULT_FAILED_AUTH_WINDOW,
  DEFAULT_PLANS,
  PlanConfigError,
  type PlanTable,
  parsePlans,
} from '../rate-limit/plans.ts';
import { checkSandboxStores, SandboxConfigError, type ServerHandle, startServer } from '../server/index.ts';
import { createLogger, LOG_LEVELS, type LogLevel } from '../server/logger.ts';
import { SeedError } from '../server/sandbox/seed-file.ts';
import { toApiKey } from '../server/serialize.ts';
import { DEFAULT_USAGE_OPTIONS, IN_MEMORY_USAGE_OPTIONS } from '../server/usage-recorder.ts';
import { lockDataDir } from '../store/data-dir-lock.ts';
import { openStore } from '../store/index.ts';
import { type ApiKeyWithPlan, KeyLimitError, type Store } from '../store/types.ts';
import { DEFAULT_ANOMALY_SETTINGS } from '../webhooks/anomaly.ts';
import { keyEvent } from '../webhooks/events.ts';
import { parseRetrySchedule } from '../webhooks/retry-schedule.ts';
import { parseSecretScanningKeys, type SecretScanningKeys } from '../webhooks/secret-scanning.ts';
import { contractAction, contractOptions } from './contract.ts';
import { describeStore, resolveServerSecret, SettingsError, type StoreSettings, storeConfig } from './settings.ts';

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

/** Collects a repeatable `--permission`, each one of the spec's permissions. */
function permission(value: string, previous: Permission[] = []): Permission[] {
  if (!(ALL_PERMISSIONS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`unknown permission; permissions: ${ALL_PERMISSIONS.join(', ')}.`);
  }
  if ((previous as string[]).includes(value)) {
    throw new InvalidArgumentError(`${value} is given twice.`);
  }
  return [...previous, value as Permission];
}

/** The permissions `keys create` asks for: --permission, or --read-only's, or every one; both must agree. */
function keyPermissions(opts: { permission?: Permission[]; readOnly?: boolean }): readonly Permission[] {
  const shorthand = opts.readOnly ? permissionsOfAccess('read_only') : undefined;
  if (opts.permission === undefined) {
    return shorthand ?? ALL_PERMISSIONS;
  }
  const permissions = orderPermissions(opts.permission);
  if (shorthand !== undefined && accessOf(permissions) !== 'read_only') {
    throw new SettingsError(`--read-only stands for ${shorthand.join(', ')}; it disagrees with --permission`);
  }
  return permissions;
}

/** `--webhook-retry-schedule` / MAILROOM_WEBHOOK_RETRY_SCHEDULE: comma-separated seconds. */
function retrySchedule(text: string): number[] {
  try {
    return parseRetrySchedule(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** MAILROOM_SECRET_SCANNING_PUBLIC_KEYS: GitHub's public keys; none configured refuses every report. */
function secretScanningKeys(json: string | undefined): SecretScanningKeys {
  if (json === undefined || json.trim() === '') {
    return new Map();
  }
  try {
    return parseSecretScanningKeys(json);
  } catch (error) {
    throw new SettingsError(`MAILROOM_SECRET_SCANNING_PUBLIC_KEYS: ${(error as Error).message}`);
  }
}

function loadPlans(): PlanTable {
  const json = process.env.MAILROOM_PLANS;
  return json ? parsePlans(json) : DEFAULT_PLANS;
}

/** Store flags shared by every command that touches data. */
function withStoreOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--data-dir <dir>', 'embedded database directory').env('MAILROOM_DATA_DIR').default('./.mailroom'),
    )
    .addOption(new Option('--memory', 'keep everything in memory (lost on exit)').env('MAILROOM_MEMORY'))
    .addOption(
      new Option('--database-url <url>', 'use PostgreSQL instead of the embedded database').env('DATABASE_URL'),
    );
}

function storeSettings(opts: { dataDir: string; memory?: boolean; databaseUrl?: string }): StoreSettings {
  if (opts.memory && opts.databaseUrl) {
    throw new SettingsError('--memory and --database-url (DATABASE_URL) exclude each other');
  }
  return { dataDir: opts.dataDir, memory: Boolean(opts.memory), databaseUrl: opts.databaseUrl };
}

/** Opens the store for a one-shot key command, holding the embedded directory's lock meanwhile. */
async function withStore<T>(settings: StoreSettings, run: (store: Store, secret: string) => Promise<T>): Promise<T> {
  if (settings.memory) {
    throw new SettingsError('key commands need a persistent store: drop --memory (MAILROOM_MEMORY)');
  }
  const release = settings.databaseUrl ? async () => {} : await lockDataDir(settings.dataDir, 'mailroom keys');
  try {
    const secret = await resolveServerSecret(settings, process.env.MAILROOM_SERVER_SECRET);
    const store = await openStore(storeConfig(settings));
    try {
      return await run(store, secret);
    } finally {
      await store.close();
    }
  } finally {
    await release();
  }
}

function printKeyTable(keys: ApiKeyWithPlan[], orgNames: Map<string, string>, plans: PlanTable): void {
  const rows = keys.map((k) => {
    const shown = toApiKey(k, plans);
    return [
      shown.keyId,
      shown.name,
      shown.keyPrefix,
      orgNames.get(k.organizationId) ?? k.organizationId,
      shown.plan,
      shown.access,
      shown.environment,
      `${shown.rateLimit}/min`,
      shown.lastUsed ?? 'never',
      shown.expirationTs ?? 'never',
    ];
  });
  const header = [
    'KEY ID',
    'NAME',
    'KEY',
    'ORGANIZATION',
    'PLAN',
    'ACCESS',
    'ENVIRONMENT',
    'LIMIT',
    'LAST USED',
    'EXPIRES',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

const program = new Command()
  .name('mailroom')
  .description('Mailroom reference server and key management for the Mailroom API contract.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)');

withStoreOptions(
  program
    .command('serve')
    .description(
      'run the reference server (prints its URL, docs URL, how to sign up and, on a fresh store, a first API key)',
    )
    .addOption(
      new Option('--port <port>', 'port to listen on')
        .env('MAILROOM_PORT')
        .default(3000)
        .argParser(integer('--port', 0, 65535)),
    )
    .addOption(new Option('--host <host>', 'address to listen on').env('MAILROOM_HOST').default('127.0.0.1')),
)
  .addOption(new Option('--redis-url <url>', 'share rate-limit counters through Redis').env('REDIS_URL'))
  .addOption(
    new Option(
      '--redis-outage-policy <policy>',
      'when Redis is unreachable: fail-open (per-instance memory limits) or fail-closed (503)',
    )
      .env('MAILROOM_REDIS_OUTAGE_POLICY')
      .choices(['fail-open', 'fail-closed'])
      .default('fail-open'),
  )
  .addOption(
    new Option('--log-level <level>', 'log level').env('MAILROOM_LOG_LEVEL').choices(LOG_LEVELS).default('info'),
  )
  .addOption(
    new Option('--trust-proxy', 'take the client address from X-Forwarded-For (behind a load balancer)').env(
      'MAILROOM_TRUST_PROXY',
    ),
  )
  .addOption(
    new Option('--failed-auth-limit <n>', 'failed authentications allowed per client address per minute')
      .env('MAILROOM_FAILED_AUTH_LIMIT')
      .default(DEFAULT_FAILED_AUTH_WINDOW.limit)
      .argParser(integer('--failed-auth-limit', 1, 1_000_000)),
  )
  .addOption(
    new Option('--signup-login-limit <n>', 'sign-ups and log-ins allowed per client address per minute')
      .env('MAILROOM_SIGNUP_LOGIN_LIMIT')
      .default(DEFAULT_ACCOUNT_WINDOWS.address.limit)
      .argParser(integer('--signup-login-limit', 1, 1_000_000)),
  )
  .addOption(
    new Option(
      '--user-limit <n>',
      "requests allowed per user token's user per minute (the console, /auth, /organizations)",
    )
      .env('MAILROOM_USER_LIMIT')
      .default(DEFAULT_ACCOUNT_WINDOWS.user.limit)
      .argParser(integer('--user-limit', 1, 1_000_000)),
  )
  .addOption(
    new Option('--no-request-log', 'do not record requests (usage and the request log then show nothing new)').env(
      'MAILROOM_NO_REQUEST_LOG',
    ),
  )
  .addOption(
    new Option(
      '--request-log-retention-days <n>',
      'days the request log keeps a request (usage reads span at most this)',
    )
      .env('MAILROOM_REQUEST_LOG_RETENTION_DAYS')
      .default(DEFAULT_USAGE_OPTIONS.retentionDays)
      .argParser(integer('--request-log-retention-days', 1, 3650)),
  )
  .addOption(
    new Option(
      '--request-log-max-rows <n>',
      `requests the request log keeps per organization, newest first (default: ${DEFAULT_USAGE_OPTIONS.maxRowsPerOrganization}, with --memory ${IN_MEMORY_USAGE_OPTIONS.maxRowsPerOrganization})`,
    )
      .env('MAILROOM_REQUEST_LOG_MAX_ROWS')
      .argParser(integer('--request-log-max-rows', 1, 1_000_000_000)),
  )
  .addOption(
    new Option(
      '--scenarios',
      "sandbox scenarios: honour the mock's Prefer: code=…, example=… and ?__code=…&__example=… (never in production)",
    ).env('MAILROOM_SCENARIOS'),
  )
  .addOption(
    new Option(
      '--sandbox',
      'sandbox mode: POST /sandbox/reset restores the state it started with, and --seed keys may be fixed (embedded store, in-memory limits; never in production)',
    ).env('MAILROOM_SANDBOX'),
  )
  .addOption(
    new Option('--seed <file>', 'seed organizations, users, keys and contacts from a fixture (YAML or JSON)').env(
      'MAILROOM_SEED',
    ),
  )
  .addOption(
    new Option(
      '--allow-private-webhooks',
      'webhook endpoints may be http and point at loopback, private and link-local addresses (local development only)',
    ).env('MAILROOM_ALLOW_PRIVATE_WEBHOOKS'),
  )
  .addOption(
    new Option(
      '--webhook-retry-schedule <seconds>',
      'seconds before each retry of a failed webhook delivery (default: 5,300,1800,7200,18000,36000,36000)',
    )
      .env('MAILROOM_WEBHOOK_RETRY_SCHEDULE')
      .argParser(retrySchedule),
  )
  .addOption(
    new Option('--anomaly-threshold <n>', 'refused requests of one key that make a usage.anomaly event')
      .env('MAILROOM_ANOMALY_THRESHOLD')
      .default(DEFAULT_ANOMALY_SETTINGS.threshold)
      .argParser(integer('--anomaly-threshold', 1, 1_000_000)),
  )
  .addOption(
    new Option('--anomaly-window <seconds>', 'the window those refusals are counted in')
      .env('MAILROOM_ANOMALY_WINDOW_SECONDS')
      .default(DEFAULT_ANOMALY_SETTINGS.windowSeconds)
      .argParser(integer('--anomaly-window', 1, 86_400)),
  )
  .addOption(
    new Option('--expiry-scan-seconds <n>', 'how often keys are scanned for api_key.expiring and api_key.expired')
      .env('MAILROOM_EXPIRY_SCAN_SECONDS')
      .default(60)
      .argParser(integer('--expiry-scan-seconds', 1, 86_400)),
  )
  .addHelpText(
    'after',
    '\nRate-limit plans come from MAILROOM_PLANS (JSON, see README); keys are hashed under MAILROOM_SERVER_SECRET.' +
      '\nA --seed fixture follows generated/seed.schema.json; without --sandbox it seeds only a store that holds no data.' +
      '\nGitHub secret scanning: MAILROOM_SECRET_SCANNING_PUBLIC_KEYS, a JSON list of { key_identifier, key (PEM) }.',
  )
  .action(async (opts) => {
    const settings = storeSettings(opts);
    const plans = loadPlans();
    const rateLimitStore = opts.redisUrl
      ? ({ kind: 'redis', url: opts.redisUrl, outagePolicy: opts.redisOutagePolicy } as const)
      : ({ kind: 'memory' } as const);
    checkSandboxStores({ sandbox: Boolean(opts.sandbox), store: storeConfig(settings), rateLimitStore });
    const release =
      settings.databaseUrl || settings.memory ? async () => {} : await lockDataDir(settings.dataDir, 'mailroom serve');
    const serverSecret = await resolveServerSecret(settings, process.env.MAILROOM_SERVER_SECRET);
    const logger = createLogger(opts.logLevel as LogLevel);
    const server = await startServer({
      port: opts.port,
      host: opts.host,
      store: storeConfig(settings),
      rateLimitStore,
      plans,
      failedAuth: { ...DEFAULT_FAILED_AUTH_WINDOW, limit: opts.failedAuthLimit },
      accountWindows: {
        address: { ...DEFAULT_ACCOUNT_WINDOWS.address, limit: opts.signupLoginLimit },
        user: { ...DEFAULT_ACCOUNT_WINDOWS.user, limit: opts.userLimit },
      },
      serverSecret,
      logger,
      trustProxy: Boolean(opts.trustProxy),
      usage: {
        enabled: opts.requestLog !== false,
        retentionDays: opts.requestLogRetentionDays,
        ...(settings.memory ? IN_MEMORY_USAGE_OPTIONS : {}),
        ...(opts.requestLogMaxRows === undefined ? {} : { maxRowsPerOrganization: opts.requestLogMaxRows }),
      },
      scenarios: Boolean(opts.scenarios),
      sandbox: Boolean(opts.sandbox),
      seed: opts.seed,
      webhooks: {
        allowPrivate: Boolean(opts.allowPrivateWebhooks),
        retrySchedule: opts.webhookRetrySchedule,
        expiryScanMs: opts.expiryScanSeconds * 1000,
        anomaly: { threshold: opts.anomalyThreshold, windowSeconds: opts.anomalyWindow },
        secretScanningKeys: secretScanningKeys(process.env.MAILROOM_SECRET_SCANNING_PUBLIC_KEYS),
      },
    }).catch(async (error) => {
      await release();
      throw error;
    });

    // A signal from here on stops the server cleanly: the banner below awaits the store, and a supervisor (or a test)
    // may send SIGTERM as soon as the first line appears.
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        return;
      }
      stopping = true;
      logger.info(`${signal}: shutting down`);
      await server.close();
      await release();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));

    console.log(`Mailroom ${VERSION} reference server listening on ${server.url}`);
    console.log(`  Docs:        ${server.url}/docs`);
    console.log(`  Spec:        ${server.url}/openapi.json`);
    console.log(`  Database:    ${describeStore(settings)}`);
    console.log(
      `  Rate limits: ${opts.redisUrl ? `Redis (${new URL(opts.redisUrl).host}), ${opts.redisOutagePolicy} on outage` : 'in memory (this process)'}`,
    );
    if (opts.scenarios) {
      console.log('  Scenarios:   ON  !!! sandbox only: any caller with a valid key can force any documented response');
      console.log(
        '               (Prefer: code=503 / code=401, example=revokedKey / ?__code=429); never run this in production',
      );
    }
    printSandbox(server, opts.seed);
    // Sign-up first, on every start: it is how a person (or a dashboard) gets an organization and its keys over HTTP.
    console.log('\nSign up (you get a user token and an organization), then create an API key with the token:');
    console.log(`  curl -X POST ${server.url}/auth/signup -H "Content-Type: application/json" \\`);
    console.log(`    -d '{"email":"you@example.com","password":"a long password","name":"Your Name"}'`);
    console.log(`  curl -X POST ${server.url}/organizations/ORGANIZATION_ID/api-keys \\`);
    console.log(
      `    -H "Authorization: Bearer USER_TOKEN" -H "Content-Type: application/json" -d '{"name":"My first key"}'`,
    );
    // A fresh store also gets a key of its own, for scripts and for trying /v1 without an account.
    if ((await server.store.countApiKeys()) === 0) {
      const first = await server.createApiKey({ name: 'First key', organization: 'default' });
      console.log('\nFirst API key for organization "default" (shown once: store it now):');
      console.log(`  ${first.plaintext}`);
      console.log(`\nTry it:\n  curl -H "X-API-Key: ${first.plaintext}" ${server.url}/v1/api-keys/validate`);
      // A sandbox's reset keeps the key it printed.
      await server.sandbox?.capture();
    }
    printSeededKeys(server);
  });

/** The sandbox's and the fixture's lines of the start-up banner. */
function printSandbox(server: ServerHandle, seed: string | undefined): void {
  if (server.sandbox) {
    console.log(
      `  Sandbox:     ON  POST /sandbox/reset (any key of the sandbox) restores ${seed ?? 'the state it started with'}; fixed keys allowed; never run this in production`,
    );
  }
  if (seed !== undefined) {
    const counts = server.seeded?.counts;
    console.log(
      counts
        ? `  Seed:        ${seed}: ${counts.organizations} organizations, ${counts.users} users, ${counts.apiKeys} API keys, ${counts.contacts} contacts`
        : `  Seed:        ${seed} not seeded: the store holds data already (only a sandbox is emptied for its fixture)`,
    );
  }
}

/** The keys a fixture made with new secrets (its fixed ones the fixture holds already). */
function printSeededKeys(server: ServerHandle): void {
  const generated = (server.seeded?.keys ?? []).filter((key) => key.generated !== undefined);
  if (generated.length > 0) {
    console.log('\nAPI keys of the fixture without a fixed apiKey (shown once: store them now):');
    for (const key of generated) {
      console.log(`  ${key.organization} / ${key.name} (${key.keyId}): ${key.generated}`);
    }
  }
}

const keys = program.command('keys').description('manage API keys directly in the store (no server needed)');

keys
  .command('generate')
  .description("print a valid API key's text without storing it: a fixed key for a sandbox fixture's apiKey")
  .argument(
    '[start]',
    'mr_<8 lowercase letters or digits>_<32 letters or digits> of your choosing: printed with its checksum',
  )
  .action((start: string | undefined) => {
    if (start === undefined) {
      console.log(generateApiKey().plaintext);
      return;
    }
    const key = completeApiKey(start);
    if (key === undefined) {
      throw new SettingsError(
        `${start} is not mr_<8 lowercase letters or digits>_<32 letters or digits> (or a whole key to fix the checksum of)`,
      );
    }
    console.log(key);
  });

withStoreOptions(
  keys
    .command('create')
    .description('create an API key and print it once')
    .requiredOption('--name <name>', 'descriptive name, 1-100 characters')
    .option('--org <org>', 'organization name (created if missing)', 'default')
    .option('--plan <plan>', "set the organization's rate-limit plan")
    .option('--expires-in-days <n>', 'days until the key expires (1-365)', integer('--expires-in-days', 1, 365))
    .option('--rate-limit <n>', 'per-key limit in requests per minute', integer('--rate-limit', 1, 100_000))
    .option(
      '--permission <permission>',
      `a permission the key gets (repeat for more; default: every one): ${ALL_PERMISSIONS.join(', ')}`,
      permission,
    )
    .option('--read-only', 'the key gets every :read permission only (shorthand)')
    .addOption(
      new Option('--environment <environment>', 'where the key is used')
        .choices(['development', 'staging', 'production'])
        .default(DEFAULT_ENVIRONMENT),
    )
    .option('--json', 'print JSON'),
).action(async (opts) => {
  if (opts.name.length < 1 || opts.name.length > 100) {
    throw new SettingsError('--name must be 1 to 100 characters');
  }
  const plans = loadPlans();
  if (opts.plan !== undefined && !(opts.plan in plans)) {
    throw new SettingsError(`unknown plan "${opts.plan}"; plans: ${Object.keys(plans).join(', ')}`);
  }
  await withStore(storeSettings(opts), async (store, secret) => {
    const org = await store.ensureOrganization(opts.org, opts.plan);
    const { plaintext, record } = await issueApiKey(store, secret, {
      organizationId: org.organizationId,
      name: opts.name,
      expiresInDays: opts.expiresInDays,
      rateLimit: opts.rateLimit,
      permissions: keyPermissions(opts),
      environment: opts.environment,
      now: new Date(),
    });
    const shown = { ...toApiKey({ ...record, plan: org.plan }, plans), apiKey: plaintext };
    if (opts.json) {
      console.log(JSON.stringify(shown, null, 2));
      return;
    }
    console.log(`Created ${shown.keyId} "${shown.name}" for organization "${org.name}" (plan ${org.plan}).`);
    console.log(`Environment ${shown.environment}; permissions ${shown.permissions.join(', ')} (${shown.access}).`);
    console.log('API key (shown once: store it now):');
    console.log(plaintext);
  });
});

withStoreOptions(
  keys.command('list').description('list active API keys of every organization').option('--json', 'print JSON'),
).action(async (opts) => {
  const plans = loadPlans();
  await withStore(storeSettings(opts), async (store) => {
    const all = await store.listAllApiKeys();
    if (opts.json) {
      console.log(
        JSON.stringify(
          all.map((k) => toApiKey(k, plans)),
          null,
          2,
        ),
      );
      return;
    }
    if (all.length === 0) {
      console.log('No active API keys. Create one with: mailroom keys create --name NAME');
      return;
    }
    const names = new Map<string, string>();
    for (const id of new Set(all.map((k) => k.organizationId))) {
      const org = await store.getOrganization(id);
      names.set(id, org?.name ?? id);
    }
    printKeyTable(all, names, plans);
  });
});

withStoreOptions(
  keys
    .command('revoke')
    .description('revoke an API key; it stops working at once')
    .argument('<keyId>', 'the key to revoke'),
).action(async (keyId: string, opts) => {
  await withStore(storeSettings(opts), async (store) => {
    const at = new Date();
    const revoked = await store.revokeApiKey(null, keyId, at, (key) => [keyEvent('api_key.revoked', key, at)]);
    if (!revoked) {
      throw new SettingsError(`no active API key ${keyId}`);
    }
    // Running servers drop the key from their caches on this notification (PostgreSQL LISTEN/NOTIFY).
    await store.notifyKeyChange(revoked.publicId);
    console.log(`Revoked ${keyId}.`);
  });
});

contractOptions(
  program
    .command('contract')
    .description("check a deployment against the spec: Dredd, Prism's validating proxy and semantic header checks"),
).action(async (opts) => {
  process.exit(await contractAction(opts));
});

// keys rotate: a new key with the old one's settings; the old one keeps working for the grace period.
withStoreOptions(
  keys
    .command('rotate')
    .description('replace an API key with a new one; the old key keeps working for a grace period')
    .argument('<keyId>', 'the key to rotate')
    .option(
      '--grace-minutes <n>',
      `minutes the old key keeps working (0-${MAX_GRACE_MINUTES}; never past its own expiry)`,
      integer('--grace-minutes', 0, MAX_GRACE_MINUTES),
      DEFAULT_GRACE_MINUTES,
    )
    .option('--json', 'print JSON'),
).action(async (keyId: string, opts) => {
  const plans = loadPlans();
  await withStore(storeSettings(opts), async (store, secret) => {
    const result = await rotateApiKey(store, secret, {
      organizationId: null,
      keyId,
      graceMinutes: opts.graceMinutes,
      now: new Date(),
    });
    if (result.outcome === 'not_found') {
      throw new SettingsError(`no active API key ${keyId}`);
    }
    if (result.outcome === 'already_rotated') {
      throw new SettingsError(`${keyId} was already rotated; its replacement is ${result.successor}: rotate that one`);
    }
    if (result.outcome === 'expired') {
      throw new SettingsError(`${keyId} expired at ${result.previous.expiresAt?.toISOString()}; create a new key`);
    }
    // Running servers drop the old key from their caches, so its shortened life holds on every instance.
    await store.notifyKeyChange(result.previous.publicId);
    const shown = { ...toApiKey(result.current, plans), apiKey: result.plaintext };
    const previous = toApiKey(result.previous, plans);
    if (opts.json) {
      console.log(JSON.stringify({ ...shown, previousKey: previous }, null, 2));
      return;
    }
    console.log(`Rotated ${keyId} "${shown.name}": its replacement is ${shown.keyId}.`);
    console.log(`${keyId} keeps working until ${previous.expirationTs}.`);
    console.log('New API key (shown once: store it now):');
    console.log(result.plaintext);
  });
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const known =
    error instanceof SettingsError ||
    error instanceof SeedError ||
    error instanceof SandboxConfigError ||
    error instanceof KeyLimitError ||
    error instanceof PlanConfigError ||
    (error as Error)?.name === 'DataDirLockedError';
  const message = known ? (error as Error).message : `unexpected error: ${(error as Error)?.message ?? String(error)}`;
  // A fixture's problems are one line each.
  console.error(
    message
      .split('\n')
      .map((line) => `mailroom: ${line}`)
      .join('\n'),
  );
  process.exit(1);
}
