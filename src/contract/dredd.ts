// Runs Dredd over every transaction of the strict spec, against the run's observer, with the hooks in
// dredd-hooks.cjs. Dredd runs as a child process (it is a CLI with global state); the hooks write a journal
// of what each transaction arranged and how it ended, which this module reads back.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { Users } from './fixtures.ts';

const HOOKS = join(import.meta.dirname, 'dredd-hooks.cjs');
/** Starts Dredd's CLI without its fixed cost of deep-copying the parsed spec (see the file). */
const LAUNCH = join(import.meta.dirname, 'dredd-launch.cjs');

/** One transaction as the hooks journalled it. */
export interface DreddTransaction {
  name: string;
  requestId?: string;
  status: 'pass' | 'fail' | 'skip' | 'error';
  request: string;
  arranged?: string;
  skipReason?: string;
  actualStatus?: number;
  message?: string;
  seconds?: number;
}

/** What one Dredd run did. */
export interface DreddResult {
  transactions: DreddTransaction[];
  /** Problems with the run itself (Dredd did not finish, the hooks wrote no journal, counts disagree). */
  problems: string[];
  /** Dredd's own counts, from its closing line. */
  counted?: { passed: number; failed: number; errors: number; skipped: number; total: number };
  logPath: string;
}

/** What the hooks need (written to a file named by MAILROOM_CONTRACT_CONTEXT). */
export interface HooksContext {
  runId: string;
  phase: 'main' | 'lockout';
  observer: string;
  /** The spec as given: Dredd makes its transactions from it (the strict copy is 6× larger to parse). */
  sourceSpec: string;
  /** The strict copy: the hooks take each response's schema from it. */
  strictSpec: string;
  journal: string;
  /** JSON lines written as transactions start and end, read when Dredd was stopped before its journal. */
  progress: string;
  created: string;
  scenarios: boolean;
  /** The target is a sandbox: its x-sandbox-only operations are held to the spec too (a reset runs last). */
  sandbox: boolean;
  deferred: string[];
  keys: { admin: string; readOnly: string; capped: string; revoked: string; unknown: string };
  /** The run's throwaway users, on a spec with accounts. */
  users?: Users;
  /** Base URL of the run's webhook receiver (on 127.0.0.1), where the endpoints the run registers point. */
  webhookReceiver: string;
  /** GitHub's side of a secret-scanning key pair the target knows, when the run was given one. */
  secretScanning?: { keyIdentifier: string; privateKey: string };
  /** The transactions this Dredd runs (all when empty): the launcher gives them to Dredd as its `--only`. */
  only?: string[];
}

/** A Dredd run in progress. */
export interface DreddRun {
  result: Promise<DreddResult>;
  /** Stops Dredd (a fail-fast run that already failed elsewhere). */
  stop(): void;
}

/** A Dredd process started early: it reads and compiles the spec, then waits for its context (`go`). */
export interface StartedDredd {
  /** Where the hooks journal (HooksContext `journal` and `progress` must be these). */
  journal: string;
  progress: string;
  /**
   * Writes the context, which lets Dredd load the hooks and run. `onFailure` is called as soon as Dredd reports a
   * failed transaction (for fail-fast runs); `only` limits the run to those transactions.
   */
  go(context: HooksContext, options?: { only?: string[]; onFailure?: () => void }): DreddRun;
  /** Ends a Dredd that was never told to go. */
  cancel(): void;
}

/**
 * Starts Dredd for `phase` before its context exists: Dredd's own start (loading, reading and compiling the spec,
 * 2–3 s of CPU) overlaps the run's setup or earlier phases, and the launcher (dredd-launch.cjs) holds Dredd just
 * before it loads the hooks until `go` writes the context.
 */
export function startDredd(
  phase: HooksContext['phase'],
  workDir: string,
  sourceSpec: string,
  observer: string,
): StartedDredd {
  const contextPath = join(workDir, `dredd-context-${phase}.json`);
  const journal = join(workDir, `dredd-journal-${phase}.json`);
  const progress = join(workDir, `dredd-progress-${phase}.jsonl`);
  writeFileSync(journal, '');
  writeFileSync(progress, '');
  const logPath = join(workDir, `dredd-${phase}.log`);
  const args = [LAUNCH, sourceSpec, observer, '--hookfiles', HOOKS, '--language', 'nodejs', '--no-color'];
  // Dredd's output goes to a file, not a pipe: Dredd exits before a pipe drains.
  const log = openSync(logPath, 'w');
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, NO_COLOR: '1', MAILROOM_CONTRACT_CONTEXT: contextPath },
    stdio: ['ignore', log, log],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stopped = false;
  let watcher: NodeJS.Timeout | undefined;
  const exited = new Promise<number | string | null>((done) => {
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (!finished) {
        finished = true;
        clearInterval(watcher);
        process.off('exit', killOnExit);
        closeSync(log);
        done(stopped ? null : (signal ?? code));
      }
    };
    child.on('error', () => finish(1, null));
    child.on('close', finish);
  });
  return {
    journal,
    progress,
    go(context, options = {}) {
      // Written whole, then renamed: the launcher waits for the name.
      writeFileSync(`${contextPath}.part`, JSON.stringify({ ...context, only: options.only ?? [] }));
      renameSync(`${contextPath}.part`, contextPath);
      const onFailure = options.onFailure;
      if (onFailure) {
        watcher = setInterval(() => {
          if (/^(fail|error): /m.test(readFileSync(logPath, 'utf8'))) {
            clearInterval(watcher);
            onFailure();
          }
        }, 250);
      }
      return {
        result: exited.then((exit) => readResult(context, logPath, exit)),
        stop() {
          stopped = true;
          child.kill('SIGTERM');
        },
      };
    },
    cancel() {
      stopped = true;
      child.kill('SIGTERM');
    },
  };
}

/** What the progress lines say about each transaction (the last line per transaction wins). */
function readProgress(path: string): DreddTransaction[] {
  const byName = new Map<string, DreddTransaction>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() !== '') {
      const entry = JSON.parse(line) as DreddTransaction;
      byName.set(entry.name, { ...byName.get(entry.name), ...entry });
    }
  }
  return [...byName.values()];
}

function readResult(context: HooksContext, logPath: string, exit: number | string | null): DreddResult {
  const output = stripVTControlCharacters(readFileSync(logPath, 'utf8'));
  const result: DreddResult = { transactions: [], problems: [], logPath };
  if (exit === null) {
    result.transactions = readProgress(context.progress); // stopped on purpose, before its journal
    return result;
  }
  const line = /complete: (\d+) passing, (\d+) failing, (\d+) errors, (\d+) skipped, (\d+) total/.exec(output);
  if (line) {
    const [passed, failed, errors, skipped, total] = line.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    result.counted = { passed, failed, errors, skipped, total };
  } else {
    result.problems.push(`Dredd printed no "complete:" line (it did not finish; see ${logPath})`);
  }
  if (exit !== 0 && (!line || result.counted?.failed === 0)) {
    result.problems.push(`Dredd exited with ${exit} (see ${logPath})`);
  }
  try {
    result.transactions = JSON.parse(readFileSync(context.journal, 'utf8')).transactions;
  } catch {
    result.problems.push(`the Dredd hooks wrote no journal: Dredd did not load them (see ${logPath})`);
  }
  return result;
}
