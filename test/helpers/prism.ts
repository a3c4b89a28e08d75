import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { getFreePort } from './ports.ts';

const root = resolve(import.meta.dirname, '../..');

/** A running Prism process. */
export interface PrismHandle {
  url: string;
  port: number;
  /** Everything Prism printed, for failure messages and violation checks. */
  output: () => string;
  stop: () => Promise<void>;
}

/** Options for {@link startPrism}. */
export interface PrismOptions {
  /** `mock` serves the spec's examples; `proxy` forwards to `upstream` and validates both directions. */
  mode?: 'mock' | 'proxy';
  upstream?: string;
  /** `--errors`: turn request/response violations into errors (proxy) / refuse invalid requests (mock). */
  errors?: boolean;
  /** `--dynamic`: generate bodies from the schemas instead of serving examples. */
  dynamic?: boolean;
  spec?: string;
}

/** Starts the real Prism CLI on the generated spec, on a free port, and waits until it listens. */
export async function startPrism(options: PrismOptions = {}): Promise<PrismHandle> {
  const port = await getFreePort();
  const spec = options.spec ?? join(root, 'generated', 'openapi.yaml');
  const args =
    options.mode === 'proxy'
      ? ['proxy', spec, options.upstream ?? '', '--port', String(port), '--host', '127.0.0.1']
      : ['mock', spec, '--port', String(port), '--host', '127.0.0.1'];
  if (options.errors) {
    args.push('--errors');
  }
  if (options.dynamic) {
    args.push('--dynamic');
  }
  const child: ChildProcess = spawn(join(root, 'node_modules', '.bin', 'prism'), args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`Prism did not start within 60 s:\n${output}`)), 60_000);
    const onData = () => {
      if (/Prism is listening/.test(output)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Prism exited with ${code} before listening:\n${output}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => output,
    stop: () =>
      new Promise<void>((resolveStop) => {
        if (child.exitCode !== null) {
          resolveStop();
          return;
        }
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
      }),
  };
}
