// What the console's suites share: a server and Debian's Chromium started together, the page's console errors and
// off-host requests collected, a sign-up made in the page, screenshots with axe checks, and the waits a person's
// steps need. Controls are found by role and accessible name in the suites; nothing here reaches for a CSS class.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { type ServerHandle, type ServerOptions, startServer } from '../../../src/server/index.ts';
import { seriousViolations } from './axe.ts';
import { launchChromium, type TestBrowser } from './chromium.ts';

/** Where the screenshots go: `test-output/console/<page>-<width>.png` (gitignored). */
export const OUT_DIR = join(resolve(import.meta.dirname, '../../..'), 'test-output', 'console');
export const WIDE = { width: 1280, height: 900 };
export const NARROW = { width: 390, height: 844 };
export const PASSWORD = 'correct horse battery staple';

/** A server and a browser page on it, with what the page logged; `close()` ends both. */
export interface ConsoleRun {
  server: ServerHandle;
  browser: TestBrowser;
  page: Page;
  url: string;
  /** Console errors (a refused request's "Failed to load resource" aside) and page errors. */
  errors: string[];
  /** Every request the page tried to send to another host (all refused). */
  offHost: Set<string>;
  close(): Promise<void>;
}

/**
 * Starts an in-process server (PGlite in memory, port 0, responses validated against the spec, a cheap password
 * cost) and Debian's Chromium, which may reach that server only.
 */
export async function startConsole(options: ServerOptions = {}): Promise<ConsoleRun> {
  mkdirSync(OUT_DIR, { recursive: true });
  const [server, browser] = await Promise.all([
    startServer({
      port: 0,
      host: '127.0.0.1',
      store: { kind: 'pglite' },
      logLevel: 'silent',
      validateResponses: true,
      passwordCost: { logN: 10, r: 8, p: 1 },
      ...options,
    }),
    launchChromium(WIDE),
  ]);
  const errors: string[] = [];
  const offHost = new Set<string>();
  const base = new URL(server.url);
  await browser.context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === base.host || url.protocol === 'data:') {
      return route.continue();
    }
    offHost.add(url.href);
    return route.abort('blockedbyclient');
  });
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  // A step that can't happen fails in 10 s, naming its locator, inside the test's own 30 s.
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (
      message.type() === 'error' &&
      !/Failed to load resource: the server responded with a status of (4\d\d)/.test(message.text())
    ) {
      errors.push(`console.error: ${message.text()}`);
    }
  });
  return {
    server,
    browser,
    page,
    url: server.url,
    errors,
    offHost,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Signs up in the page (name, email, the shared password) and waits for the first organization's keys. */
export async function signUpInPage(run: ConsoleRun, who: { name: string; email: string }): Promise<void> {
  const { page } = run;
  await page.goto(`${run.url}/console#/signup`);
  await visible(page.getByRole('heading', { name: 'Sign up', level: 1 }));
  await page.getByLabel('Name (optional)').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await visible(page.getByRole('heading', { name: 'API keys', level: 1 }));
}

/** The organization in the page's route. */
export function organizationOf(page: Page): string {
  const match = /#\/organizations\/(org_[a-z0-9]{16})\//.exec(page.url());
  if (!match?.[1]) {
    throw new Error(`no organization in ${page.url()}`);
  }
  return match[1];
}

/** The user token the page holds (sessionStorage). */
export async function tokenOf(page: Page, key: string): Promise<string> {
  const token = await page.evaluate((name) => {
    const text = sessionStorage.getItem(name);
    return text === null ? null : ((JSON.parse(text) as { token?: string }).token ?? null);
  }, key);
  if (!token) {
    throw new Error('no token in sessionStorage');
  }
  return token;
}

/**
 * Screenshots of the page at 1280 and 390 px, each checked with axe (no serious or critical violation) and for width
 * (nothing scrolls sideways).
 */
export async function capture(page: Page, name: string): Promise<void> {
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(OUT_DIR, `${name}-${size.width}.png`), fullPage: true });
    expect(await seriousViolations(page), `${name} at ${size.width} px`).toEqual([]);
    // Nothing wider than the screen: no sideways scrolling, nothing cut at the right edge.
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} at ${size.width} px`).toBe(
      size.width,
    );
  }
  await page.setViewportSize(WIDE);
}

export async function visible(locator: Locator): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout: 10_000 });
}

export async function hidden(locator: Locator): Promise<void> {
  await locator.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** Waits until the locator's first match holds the text (or matches the pattern). */
export async function expectText(locator: Locator, expected: string | RegExp): Promise<void> {
  const text = async () => ((await locator.count()) === 0 ? '' : ((await locator.first().textContent()) ?? ''));
  if (typeof expected === 'string') {
    await expect.poll(text, { timeout: 10_000 }).toContain(expected);
  } else {
    await expect.poll(text, { timeout: 10_000 }).toMatch(expected);
  }
}

/** The texts a control's `aria-describedby` points at (its hint and the server's messages), once it is invalid. */
export async function describedBy(locator: Locator): Promise<string> {
  await expect.poll(() => locator.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
  return locator.evaluate((element) =>
    (element.getAttribute('aria-describedby') ?? '')
      .split(' ')
      .map((id) => document.getElementById(id)?.textContent ?? '')
      .join(' '),
  );
}
