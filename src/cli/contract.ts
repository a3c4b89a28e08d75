// The `mailroom contract` command (and `npm run test:contract`, which points it at an in-process server):
// options, progress on stderr, the human summary on stdout, the JSON and JUnit files, the exit code.
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';

/** Options of `mailroom contract`, as commander parses them. */
export interface ContractCommandOptions {
  target: string;
  apiKey: string;
  spec?: string;
  junit?: string;
  json?: string;
  failFast?: boolean;
  requireScenarios?: boolean;
  sandbox?: boolean;
  verbose?: boolean;
  keepLogs?: boolean;
  /** A PEM file: GitHub's side (the private key) of a secret-scanning key pair the target knows. */
  secretScanningKey?: string;
  /** The identifier the target knows that key's public half by (its MAILROOM_SECRET_SCANNING_PUBLIC_KEYS entry). */
  secretScanningKeyId?: string;
  /** The same, already read (npm run test:contract makes the pair itself). */
  secretScanning?: { keyIdentifier: string; privateKey: string };
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL, e.g. https://staging.example.com');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('must be an http(s) URL, e.g. https://staging.example.com');
  }
  return value.replace(/\/+$/, '');
}

/** Adds the run's options to `command`; `withTarget: false` leaves out --target and --api-key. */
export function contractOptions(command: Command, { withTarget = true } = {}): Command {
  if (withTarget) {
    command
      .addOption(
        new Option('--target <url>', 'base URL of the deployment to check')
          .env('MAILROOM_CONTRACT_TARGET')
          .argParser(httpUrl)
          .makeOptionMandatory(),
      )
      .addOption(
        new Option('--api-key <key>', 'a full-access API key of that deployment (everything else is made with it)')
          .env('MAILROOM_API_KEY')
          .makeOptionMandatory(),
      );
  }
  return command
    .addOption(
      new Option('--spec <path-or-url>', 'the spec to check against (default: the bundled spec of this package)'),
    )
    .addOption(
      new Option('--junit <file>', 'also write a JUnit XML report (one testcase per transaction, step and check)'),
    )
    .addOption(new Option('--json <file>', 'also write the summary as JSON'))
    .addOption(
      new Option(
        '--fail-fast',
        'stop at the first failure (and run the cheap phases first: the scenario, the sign-in spray and the state phase before Dredd)',
      ),
    )
    .addOption(
      new Option('--require-scenarios', 'fail on cases that need sandbox scenarios (for a target started with them)'),
    )
    .addOption(
      new Option(
        '--sandbox',
        'the target is a sandbox (mailroom serve --sandbox): also check its x-sandbox-only operations, resetting it last (never give this for a deployment with data)',
      ),
    )
    .addOption(
      new Option(
        '--secret-scanning-key <file>',
        "a PEM private key whose public half the target knows (MAILROOM_SECRET_SCANNING_PUBLIC_KEYS): the run signs GitHub secret-scanning reports with it (without it, the report's signed cases are skipped)",
      ).env('MAILROOM_CONTRACT_SECRET_SCANNING_KEY'),
    )
    .addOption(
      new Option(
        '--secret-scanning-key-id <id>',
        "that key's key_identifier in the target's MAILROOM_SECRET_SCANNING_PUBLIC_KEYS",
      ).env('MAILROOM_CONTRACT_SECRET_SCANNING_KEY_ID'),
    )
    .addOption(new Option('--verbose', 'list every case'))
    .addOption(new Option('--keep-logs', 'keep the Dredd and Prism logs and the strict spec even when the run passed'))
    .addHelpText('after', withTarget ? FAST_SANDBOX_HELP : '');
}

const FAST_SANDBOX_HELP = `
The run paces itself by the target's rate-limit headers: on a deployment with little room it waits for its windows
(a plain mailroom serve allows 20 sign-ups and log-ins a minute per address and 120 requests a minute per user: the
run waits a minute for each). A sandbox started for the run can give it room, so it never waits (about 30 s here):
  MAILROOM_PLANS='{"free":{"windows":[{"name":"burst","limit":1000,"windowSeconds":1}]}}' \\
    mailroom serve --memory --sandbox --signup-login-limit 100 --failed-auth-limit 1000 --user-limit 1000 \\
      --allow-private-webhooks --trust-proxy
  mailroom contract --target http://127.0.0.1:3000 --api-key mr_... --sandbox   # the key serve printed
(--signup-login-limit: the run's sign-ups and log-ins; --failed-auth-limit: its failed authentications;
--user-limit: its user-token requests; the plan: its 2,000-odd requests; --allow-private-webhooks: the run's webhook
receiver on 127.0.0.1; --trust-proxy: its sign-in spray from several addresses, by X-Forwarded-For.) On a sandbox the
run moves the sandbox's clock (POST /sandbox/clock) for the expiry events; elsewhere it waits up to a minute for the
target's expiry scan unless that runs more often (serve --expiry-scan-seconds). Its last case locks this client
address out of the target until the failed-auth window ends.`;

function writeFile(path: string, text: string): void {
  const full = resolve(process.cwd(), path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
}

/** Runs the contract, prints and writes the reports; resolves to the exit code (0 only when it passed). */
export async function contractAction(opts: ContractCommandOptions): Promise<number> {
  // Loaded here, not at start-up: the other commands need none of Dredd, Prism or the reporters.
  const { runContract } = await import('../contract/run.ts');
  const { formatReport, jsonSummary, junitXml } = await import('../contract/report.ts');
  let secretScanning = opts.secretScanning;
  if (!secretScanning && opts.secretScanningKey) {
    if (!opts.secretScanningKeyId) {
      console.error('mailroom contract: --secret-scanning-key needs --secret-scanning-key-id (the key_identifier)');
      return 1;
    }
    let privateKey: string;
    try {
      privateKey = readFileSync(resolve(process.cwd(), opts.secretScanningKey), 'utf8');
      createPrivateKey(privateKey);
    } catch (error) {
      console.error(`mailroom contract: --secret-scanning-key: ${(error as Error).message}`);
      return 1;
    }
    secretScanning = { keyIdentifier: opts.secretScanningKeyId, privateKey };
  }
  const report = await runContract({
    secretScanning,
    target: opts.target,
    apiKey: opts.apiKey,
    spec: opts.spec,
    failFast: opts.failFast,
    requireScenarios: opts.requireScenarios,
    sandbox: opts.sandbox,
    log: (line) => console.error(line),
  });
  console.log(formatReport(report, { verbose: opts.verbose }));
  if (opts.json) {
    writeFile(opts.json, jsonSummary(report));
  }
  if (opts.junit) {
    writeFile(opts.junit, junitXml(report));
  }
  if (report.ok && !opts.keepLogs) {
    rmSync(report.workDir, { recursive: true, force: true });
  }
  return report.ok ? 0 : 1;
}
