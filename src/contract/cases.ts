// The cases a contract run reports: each Dredd transaction, each scenario step, each setup step. A case
// passes when it got what it arranged for and nothing it sent drew a finding from Prism or the semantic
// checks; "needs scenarios" when only a cooperative server (one honouring `Prefer: code=…`) can produce it.
import type { RunClient, SendOptions, Sent } from './client.ts';

/** How a case ended. */
export type Outcome = 'passed' | 'failed' | 'needs-scenarios' | 'skipped' | 'not-run';

/** The suites cases belong to (the JUnit testsuites). */
export type Suite = 'setup' | 'dredd' | 'scenario' | 'edge-values' | 'state' | 'clean-up';

/** One case of the run, as reported. */
export interface CaseResult {
  suite: Suite;
  name: string;
  outcome: Outcome;
  /** Why it failed, or why it needs scenarios. */
  messages: string[];
  /** The X-Request-Ids of the requests it sent (findings on them are the case's). */
  requestIds: string[];
  /** What the case arranged, in a few words. */
  arranged?: string;
  seconds: number;
}

/** Thrown to stop a case early; its message becomes the case's failure. */
export class CaseFailure extends Error {
  override name = 'CaseFailure';
}

/** What a running case can do. */
export interface CaseContext {
  /** Sends a request for this case and checks its status against `expect`. */
  send(options: SendOptions & { expect: number | number[] }): Promise<Sent>;
  /** Sends a request for this case without judging its status. */
  sendUnchecked(options: SendOptions): Promise<Sent>;
}

/** Runs cases in order and records their results; after `abort()` the remaining ones are not run. */
export class CaseBook {
  readonly results: CaseResult[] = [];
  private aborted = false;

  /** `onFailure` is called when a case fails (a fail-fast run stops there). */
  constructor(
    private readonly client: RunClient,
    private readonly onFailure: () => void = () => {},
  ) {}

  abort(): void {
    this.aborted = true;
  }

  get isAborted(): boolean {
    return this.aborted;
  }

  /** Records a case that is not run against this target, for the reason given. */
  needsScenarios(suite: Suite, name: string, why: string): void {
    this.results.push({ suite, name, outcome: 'needs-scenarios', messages: [why], requestIds: [], seconds: 0 });
  }

  /** Records a case not run against this target (or not arrangeable on it), for the reason given. */
  skipped(suite: Suite, name: string, why: string): void {
    this.results.push({ suite, name, outcome: 'skipped', messages: [why], requestIds: [], seconds: 0 });
  }

  /**
   * Runs one case; returns what `fn` returned, or undefined when it failed or did not run. An `always` case
   * (clean-up) runs even after `abort()`.
   */
  async run<T>(
    suite: Suite,
    name: string,
    fn: (ctx: CaseContext) => Promise<T>,
    { always = false }: { always?: boolean } = {},
  ): Promise<T | undefined> {
    const result: CaseResult = { suite, name, outcome: 'passed', messages: [], requestIds: [], seconds: 0 };
    this.results.push(result);
    if (this.aborted && !always) {
      result.outcome = 'not-run';
      return undefined;
    }
    const started = Date.now();
    const sendUnchecked = async (options: SendOptions): Promise<Sent> => {
      const sent = await this.client.send(`${suite}: ${name}`, options);
      result.requestIds.push(sent.requestId);
      return sent;
    };
    const ctx: CaseContext = {
      sendUnchecked,
      async send(options) {
        const sent = await sendUnchecked(options);
        const expected = Array.isArray(options.expect) ? options.expect : [options.expect];
        if (!expected.includes(sent.status)) {
          throw new CaseFailure(
            `${options.method ?? 'GET'} ${options.path} answered ${sent.status}, expected ${expected.join(' or ')}: ${sent.text.slice(0, 300)}`,
          );
        }
        return sent;
      },
    };
    try {
      return await fn(ctx);
    } catch (error) {
      result.outcome = 'failed';
      result.messages.push(error instanceof Error ? error.message : String(error));
      this.onFailure();
      return undefined;
    } finally {
      result.seconds = (Date.now() - started) / 1000;
    }
  }
}
