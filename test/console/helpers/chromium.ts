import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium: the only browser the tests drive (never one a test tool downloads). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, and quiet: no sandbox (containers), no GPU, no background traffic to Google. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** A browser with a throw-away profile; `close()` ends it and deletes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Debian's Chromium with a fresh profile (and `extraArgs`), or says how to install it. */
export async function launchChromium(
  options: { width: number; height: number },
  extraArgs: string[] = [],
): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The browser tests drive Debian's Chromium at ${CHROMIUM}, which is not installed: ` +
        '`sudo apt-get install -y chromium` (.ci/run does this on CI).',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'mailroom-console-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      viewport: { width: options.width, height: options.height },
      serviceWorkers: 'block',
    });
    return {
      context,
      async close() {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}
