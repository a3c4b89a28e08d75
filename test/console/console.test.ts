// The console (/console) in a real browser: Debian's Chromium driven by playwright-core against an in-process
// reference server (PGlite in memory, port 0). Every step is a person's: controls are found by role and accessible
// name, never by CSS class. Keys made in the browser are then used from Node with the project's client, so "it works"
// means the API says so. Each page is checked with axe-core and photographed at 390 and 1280 px
// (test-output/console/, gitignored). The tests run in order and share one browser page, as one visit would.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CONSOLE_BUDGET_BYTES, CONSOLE_OUT_DIR, measureConsole } from '../../scripts/build-console.mjs';
import { createMailroomAccountClient, createMailroomClient, unwrap } from '../../src/client/index.ts';
import { SESSION_STORAGE_KEY } from '../../src/console/session.ts';
import { CONSOLE_CSP } from '../../src/server/console.ts';
import { type ServerHandle, startServer } from '../../src/server/index.ts';
import { launchChromium, type TestBrowser } from './helpers/chromium.ts';
import {
  capture as captureIn,
  describedBy,
  expectText,
  hidden,
  OUT_DIR,
  PASSWORD,
  visible,
  WIDE,
} from './helpers/console.ts';

const DAY_MS = 86_400_000;
/** Failed log-ins an email may make before 429 (the server's default is 10 an hour; fewer keeps this short). */
const FAILED_LOG_INS = 3;
/**
 * A name Chromium resolves to 127.0.0.1 (--host-resolver-rules) and, unlike 127.0.0.1 itself, doesn't count as a
 * secure context: how the console is seen from a sandbox served over plain HTTP on another host.
 */
const INSECURE_HOST = 'sandbox.test';

let server: ServerHandle | undefined;
let browser: TestBrowser | undefined;
let context: BrowserContext;
let page: Page;
let clockOffsetMs = 0;
const consoleErrors: string[] = [];
const offHost = new Set<string>();
const run = Date.now().toString(36);
const owner = { name: 'Ada Lovelace', email: `ada-${run}@example.com` };

beforeAll(async () => {
  mkdirSync(OUT_DIR, { recursive: true });
  const started = await Promise.allSettled([
    startServer({
      port: 0,
      host: '127.0.0.1',
      store: { kind: 'pglite' },
      logLevel: 'silent',
      validateResponses: true,
      // A cheap scrypt cost: sign-ups and log-ins are many here, and the cost is not what is tested.
      passwordCost: { logN: 10, r: 8, p: 1 },
      // The browser and Node share 127.0.0.1: the tokens this file revokes and checks from Node must not spend the
      // address's failed-authentication window (20 a minute by default) that the browser's next request needs.
      failedAuth: { name: 'auth-failures', limit: 1000, windowSeconds: 60 },
      accountWindows: {
        user: { name: 'user', limit: 100_000, windowSeconds: 60 },
        address: { name: 'address', limit: 1000, windowSeconds: 60 },
        account: { name: 'account', limit: FAILED_LOG_INS, windowSeconds: 900 },
        'account-address': { name: 'account-address', limit: 5, windowSeconds: 900 },
      },
      clock: () => new Date(Date.now() + clockOffsetMs),
    }).then((handle) => {
      server = handle;
    }),
    launchChromium(WIDE, [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`]).then((launched) => {
      browser = launched;
    }),
  ]);
  for (const result of started) {
    if (result.status === 'rejected') {
      throw result.reason;
    }
  }
  if (!server || !browser) {
    throw new Error('the server or the browser did not start');
  }
  context = browser.context;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const base = new URL(server.url);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === base.host || url.host === `${INSECURE_HOST}:${base.port}` || url.protocol === 'data:') {
      return route.continue();
    }
    offHost.add(url.href);
    return route.abort('blockedbyclient');
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A refused request (the 401s, 422s and 429s this file provokes) is logged by Chromium as "Failed to load
    // resource": the console shows those, it doesn't fail on them. Anything else, a CSP violation included, counts.
    if (
      message.type() === 'error' &&
      !/Failed to load resource: the server responded with a status of (4\d\d)/.test(message.text())
    ) {
      consoleErrors.push(`console.error: ${message.text()}`);
    }
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the console at /console in Chromium', () => {
  test('is served with a strict Content-Security-Policy, one script and one stylesheet, nothing inline', async () => {
    const response = await fetch(`${url()}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html\b/);
    expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toBe(readFileSync(join(CONSOLE_OUT_DIR, 'index.html'), 'utf8'));
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    for (const asset of ['/console/console.js', '/console/console.css', '/console/favicon.svg']) {
      const file = await fetch(`${url()}${asset}`);
      expect(file.status, asset).toBe(200);
      expect(file.headers.get('content-security-policy'), asset).toBe(CONSOLE_CSP);
    }
    // Only the built files: anything else under /console is the API's 404, in the envelope.
    const missing = await fetch(`${url()}/console/../package.json`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ success: false, error: { code: 'RESOURCE_NOT_FOUND' } });
  });

  test('weighs at most 150 KiB gzipped, everything it loads included', () => {
    const size = measureConsole();
    expect(CONSOLE_BUDGET_BYTES).toBe(150 * 1024);
    expect(size.files.map((f) => f.file)).toEqual(expect.arrayContaining(['console.js', 'console.css', 'index.html']));
    expect(size.gzipBytes).toBeGreaterThan(0);
    expect(size.gzipBytes).toBeLessThanOrEqual(CONSOLE_BUDGET_BYTES);
  });

  test('a refused sign-up shows the envelope’s message, and each field’s details beside that field', async () => {
    await page.goto(`${url()}/console`);
    await visible(page.getByRole('heading', { name: 'Log in', level: 1 }));
    await capture('log-in');
    await page.getByRole('link', { name: 'Sign up' }).click();
    await visible(page.getByRole('heading', { name: 'Sign up', level: 1 }));
    await page.getByLabel('Email').fill('not an email');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await expectText(page.getByRole('alert'), 'The given data was invalid');
    expect(await describedBy(page.getByLabel('Password'))).toMatch(/fewer than 10 characters/);
    expect(await describedBy(page.getByLabel('Email'))).toMatch(/format "email"/);
    expect(await page.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
    await capture('sign-up-refused');
  });

  test('signs up and opens the new organization’s keys, the user token in sessionStorage only', async () => {
    await page.getByLabel('Name (optional)').fill(owner.name);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign up' }).click();
    await visible(page.getByRole('heading', { name: 'API keys', level: 1 }));
    await expectText(page.getByRole('main'), 'No keys yet');
    const stored = await page.evaluate((key) => {
      const session = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { token?: string };
      return { token: session.token, local: localStorage.length, cookie: document.cookie };
    }, SESSION_STORAGE_KEY);
    expect(stored.token).toMatch(/^mru_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(stored.local).toBe(0);
    expect(stored.cookie).toBe('');
    expect(page.url()).toMatch(/\/console#\/organizations\/org_[a-z0-9]{16}\/keys$/);
  });

  test('creates an organization and switches between organizations', async () => {
    await page.getByRole('button', { name: 'New organization' }).click();
    const dialog = page.getByRole('dialog', { name: 'New organization' });
    await visible(dialog);
    expect(await focusedLabel()).toBe('Organization name');
    await dialog.getByLabel('Organization name').fill('Acme Mail');
    await dialog.getByRole('button', { name: 'Create organization' }).click();
    await hidden(dialog);
    await visible(page.getByRole('heading', { name: 'API keys', level: 1 }));
    const switcher = page.getByLabel('Organization', { exact: true });
    await expect.poll(() => selectedText(switcher)).toBe('Acme Mail (owner)');
    await expectText(page.getByRole('main'), 'Keys of Acme Mail');

    await switcher.selectOption({ label: `${owner.name}'s organization (owner)` });
    await page.getByRole('button', { name: 'Switch' }).click();
    await expectText(page.getByRole('main'), `Keys of ${owner.name}'s organization`);
    await switcher.selectOption({ label: 'Acme Mail (owner)' });
    await page.getByRole('button', { name: 'Switch' }).click();
    await expectText(page.getByRole('main'), 'Keys of Acme Mail');
  });

  test('a create the server refuses shows each field’s details beside it, and nothing is created', async () => {
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await visible(dialog);
    await dialog.getByLabel('Expires').selectOption({ label: 'Other…' });
    await dialog.getByLabel('Days until it expires').fill('400');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await expectText(dialog.getByRole('alert'), 'The given data was invalid');
    expect(await describedBy(dialog.getByLabel('Name'))).toMatch(/fewer than 1 characters/);
    expect(await describedBy(dialog.getByLabel('Days until it expires'))).toMatch(/must be <= 365/);
    await capture('create-key-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await hidden(dialog);
    await expectText(page.getByRole('main'), 'No keys yet');
  });

  let firstKey = '';

  test('creates a key: its secret is shown once with Copy and the warning, and it works from Node', async () => {
    const opener = page.getByRole('button', { name: 'Create key' });
    await opener.click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await visible(dialog);
    await capture('create-key');
    await dialog.getByLabel('Name').fill('Production API');
    await dialog.getByLabel('Expires').selectOption({ label: 'In 90 days' });
    await dialog.getByLabel('Rate limit, requests per minute (optional)').fill('600');
    await dialog.getByRole('button', { name: 'Create key' }).click();

    const reveal = page.getByRole('dialog', { name: 'Your new key: Production API' });
    await visible(reveal);
    await expectText(reveal, 'This API key will only be shown once. Please store it securely.');
    await expectText(reveal, 'Leaving this page loses it.');
    firstKey = await reveal.getByLabel('API key').inputValue();
    expect(firstKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    await reveal.getByRole('button', { name: 'Copy' }).click();
    await expectText(reveal.getByRole('status'), 'Copied to the clipboard');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(firstKey);
    await capture('key-secret');
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);
    expect(await isFocused(opener)).toBe(true);

    const row = page.getByRole('row', { name: /Production API/ });
    await visible(row);
    await expectText(row, firstKey.slice(0, 12));
    await expectText(row, '600 / min');
    await expectText(row, 'Full access');
    // The secret lives in no page text and no storage once the dialog is closed.
    expect(await page.content()).not.toContain(firstKey);
    expect(await page.evaluate(() => JSON.stringify(sessionStorage))).not.toContain(firstKey);

    const validated = await validate(firstKey);
    expect(validated.status).toBe(200);
    expect(validated.body).toMatchObject({ data: { valid: true, name: 'Production API' } });
    expect(validated.deprecation).toBeNull();
    await capture('keys');
  });

  test('the create dialog keeps focus inside it, closes on Escape and gives focus back', async () => {
    const opener = page.getByRole('button', { name: 'Create key' });
    await opener.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await visible(dialog);
    expect(await focusedLabel()).toBe('Name');
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press(i % 4 === 3 ? 'Shift+Tab' : 'Tab');
      expect(await dialog.evaluate((element) => element.contains(document.activeElement))).toBe(true);
    }
    // The focused control shows it: the ring is drawn (an outline wider than zero).
    expect(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineWidth)).not.toBe('0px');
    await page.keyboard.press('Escape');
    await hidden(dialog);
    expect(await isFocused(opener)).toBe(true);
  });

  let rotatedKey = '';

  test('rotates the key with a grace period: the old key answers with Deprecation, the new one works', async () => {
    const row = page.getByRole('row', { name: /Production API/ });
    await row.getByRole('button', { name: /^Rotate\b/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate Production API' });
    await visible(dialog);
    // A typed period outside the spec's range: the server's message sits beside the field.
    await dialog.getByRole('radio', { name: 'Another period' }).check();
    await dialog.getByLabel('Grace period in minutes').fill('20000');
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    expect(await describedBy(dialog.getByLabel('Grace period in minutes'))).toMatch(/must be <= 10080/);
    await dialog.getByLabel('Grace period in minutes').fill('90');
    await capture('rotate-key');
    await dialog.getByRole('button', { name: 'Rotate key' }).click();

    const reveal = page.getByRole('dialog', { name: 'New key for Production API' });
    await visible(reveal);
    await expectText(reveal, 'This API key will only be shown once');
    await expectText(reveal, 'answering with a Deprecation header');
    rotatedKey = await reveal.getByLabel('API key').inputValue();
    expect(rotatedKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(rotatedKey).not.toBe(firstKey);
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);

    const old = await validate(firstKey);
    expect(old.status).toBe(200);
    expect(old.deprecation).toMatch(/^@\d+$/);
    const current = await validate(rotatedKey);
    expect(current.status).toBe(200);
    expect(current.deprecation).toBeNull();
    // Both are listed until the old one's grace ends.
    await expect.poll(() => page.getByRole('row', { name: /Production API/ }).count()).toBe(2);
  });

  test('rotates with a preset grace period', async () => {
    const row = page.getByRole('row', { name: new RegExp(rotatedKey.slice(0, 11)) });
    await row.getByRole('button', { name: /^Rotate\b/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate Production API' });
    expect(await dialog.getByRole('radio', { name: '24 hours' }).isChecked()).toBe(true);
    await dialog.getByRole('radio', { name: '1 hour' }).check();
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    const reveal = page.getByRole('dialog', { name: 'New key for Production API' });
    const third = await reveal.getByLabel('API key').inputValue();
    await reveal.getByRole('button', { name: 'Done' }).click();
    const previous = await validate(rotatedKey);
    expect(previous.deprecation).toMatch(/^@\d+$/);
    // The old key stops an hour after the rotation (the server's Sunset), not a day after.
    const sunset = Date.parse(previous.sunset ?? '');
    expect(sunset - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(sunset - Date.now()).toBeGreaterThan(3_500_000);
    rotatedKey = third;
  });

  test('renames a key', async () => {
    const row = page.getByRole('row', { name: new RegExp(rotatedKey.slice(0, 11)) });
    await row.getByRole('button', { name: /^Rename\b/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Rename Production API' });
    await dialog.getByLabel('Name').fill('Billing service');
    await dialog.getByRole('button', { name: 'Save name' }).click();
    await hidden(dialog);
    await expectText(page.getByRole('status').first(), 'Renamed Production API to Billing service.');
    await visible(page.getByRole('row', { name: /Billing service/ }));
    expect((await validate(rotatedKey)).body).toMatchObject({ data: { name: 'Billing service' } });
  });

  test('revokes a key only after confirmation, and it is refused from then on', async () => {
    const row = page.getByRole('row', { name: /Billing service/ });
    const revoke = row.getByRole('button', { name: /^Revoke\b/ });
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke Billing service?' });
    await visible(dialog);
    expect(await focusedLabel()).toBe('Cancel');
    await capture('revoke-key');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await hidden(dialog);
    expect(await isFocused(revoke)).toBe(true);
    expect((await validate(rotatedKey)).status).toBe(200);

    await revoke.click();
    await page
      .getByRole('dialog', { name: 'Revoke Billing service?' })
      .getByRole('button', { name: 'Revoke key' })
      .click();
    await hidden(dialog);
    await expectText(page.getByRole('status').first(), 'Revoked Billing service');
    await hidden(page.getByRole('row', { name: /Billing service/ }));
    // Focus goes to the page's heading: the button that opened the dialog went with its row.
    expect(await isFocused(page.getByRole('heading', { name: 'API keys', level: 1 }))).toBe(true);
    const refused = await validate(rotatedKey);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: 'UNAUTHORIZED', message: 'The API key has been revoked' } });
  });

  test('renames the organization and manages members under the server’s rules', async () => {
    const grace = await signUpFromNode('grace', 'Grace Hopper');
    await page.getByRole('link', { name: 'Members and settings' }).click();
    await visible(page.getByRole('heading', { name: 'Members and settings', level: 1 }));
    await page.getByLabel('Organization name').fill('Acme Mail EU');
    await page.getByRole('button', { name: 'Save name' }).click();
    await expectText(page.getByRole('main'), 'Renamed to Acme Mail EU.');
    await expect
      .poll(() => selectedText(page.getByLabel('Organization', { exact: true })))
      .toBe('Acme Mail EU (owner)');

    // Someone without an account: the server's 404, as it words it, beside nothing but the form.
    await page.getByLabel('Email').fill(`nobody-${run}@example.com`);
    await page.getByRole('button', { name: 'Add member' }).click();
    await expectText(page.getByRole('alert'), 'sign up');
    await page.getByLabel('Email').fill(grace.email);
    await page.getByRole('button', { name: 'Add member' }).click();
    const row = page.getByRole('row', { name: /Grace Hopper/ });
    await visible(row);
    await expectText(row, 'member');
    await row.getByRole('button', { name: /^Make owner\b/ }).click();
    await expectText(page.getByRole('main'), 'Grace Hopper is now an owner.');
    await expectText(row, 'owner');
    await capture('members');
    await row.getByRole('button', { name: /^Make member\b/ }).click();
    await expectText(page.getByRole('main'), 'Grace Hopper is now a member.');
    await row.getByRole('button', { name: /^Remove\b/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove Grace Hopper?' });
    await dialog.getByRole('button', { name: 'Remove member' }).click();
    await hidden(row);

    // The last owner can't leave: the server's 409 LAST_OWNER is shown, and they stay.
    await page
      .getByRole('row', { name: /Ada Lovelace/ })
      .getByRole('button', { name: 'Leave' })
      .click();
    const leave = page.getByRole('dialog', { name: 'Leave Acme Mail EU?' });
    await leave.getByRole('button', { name: 'Leave organization' }).click();
    await expectText(leave.getByRole('alert'), 'owner');
    await capture('last-owner');
    await leave.getByRole('button', { name: 'Cancel' }).click();
    await hidden(leave);
  });

  test('a member sees the organization without the owner’s controls, and the server refuses them anyway', async () => {
    const grace = await signUpFromNode('member', 'Grace Member');
    const { organizationId } = currentOrganization();
    const owner = await logInFromNode(ownerEmail());
    await unwrap(
      owner.POST('/organizations/{organizationId}/members', {
        params: { path: { organizationId } },
        body: { email: grace.email },
      }),
    );
    const other = await browser?.context.newPage();
    if (!other) {
      throw new Error('no page');
    }
    try {
      await other.goto(`${url()}/console#/organizations/${organizationId}/settings`);
      await other.getByLabel('Email').fill(grace.email);
      await other.getByLabel('Password').fill(PASSWORD);
      await other.getByRole('button', { name: 'Log in' }).click();
      await visible(other.getByRole('heading', { name: 'API keys', level: 1 }));
      await other.goto(`${url()}/console#/organizations/${organizationId}/settings`);
      await visible(other.getByRole('heading', { name: 'Members and settings', level: 1 }));
      await visible(other.getByRole('row', { name: /Ada Lovelace/ }));
      expect(await other.getByRole('button', { name: 'Add member' }).count()).toBe(0);
      expect(await other.getByRole('button', { name: /^Make owner\b/ }).count()).toBe(0);
      expect(await other.getByRole('button', { name: /^Remove\b/ }).count()).toBe(0);
      expect(await other.getByLabel('Organization name').count()).toBe(0);
      // A member may leave.
      await other.getByRole('button', { name: 'Leave' }).click();
      await other.getByRole('dialog').getByRole('button', { name: 'Leave organization' }).click();
      await expect
        .poll(() => selectedText(other.getByLabel('Organization', { exact: true })))
        .toBe("Grace Member's organization (owner)");
    } finally {
      await other.close();
    }
  });

  test('the account page shows who is signed in', async () => {
    await page.getByRole('link', { name: owner.name }).click();
    await visible(page.getByRole('heading', { name: 'Account', level: 1 }));
    await expectText(page.getByRole('main'), owner.email);
    await capture('account');
  });

  test('lists the sessions, ends one and then all the others, and changes the password', async () => {
    // Two more sessions of the owner, signed in from Node as a laptop and a script would.
    const signIn = async (agent: string) =>
      unwrap(
        createMailroomAccountClient({ baseUrl: url() }).POST('/auth/login', {
          body: { email: owner.email, password: PASSWORD },
          headers: { 'User-Agent': agent },
        }),
      );
    const laptop = await signIn('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
    const script = await signIn('deploy-bot/1.4 (+https://ci.example.com)');
    const works = async (token: string) =>
      (await createMailroomAccountClient({ baseUrl: url(), userToken: token, retry: false }).GET('/auth/me')).response
        .status;

    // Moving between pages reads no profile again (it did on every navigation, and a read still in flight when the
    // token was revoked elsewhere ended the session behind the page's back).
    const profileReads: string[] = [];
    const countProfileReads = (request: { url(): string }) => {
      if (request.url().endsWith('/auth/me')) {
        profileReads.push(request.url());
      }
    };
    page.on('request', countProfileReads);
    await page.getByRole('link', { name: 'Sessions and password' }).click();
    await visible(page.getByRole('heading', { name: 'Sessions and password', level: 1 }));
    const table = page.getByRole('table');
    await expectText(table, 'This session');
    await expectText(table, 'deploy-bot/1.4');
    await capture('sessions');

    await page
      .getByRole('button', { name: /^End session/ })
      .first()
      .click();
    await expectText(page.getByRole('status').first(), 'Ended the session signed in from');
    expect([await works(laptop.token), await works(script.token)].sort()).toEqual([200, 401]);

    await page.getByRole('button', { name: 'End all other sessions' }).click();
    const dialog = page.getByRole('dialog', { name: 'End all other sessions?' });
    await dialog.getByRole('button', { name: 'End other sessions' }).click();
    await hidden(dialog);
    await expectText(page.getByRole('status').first(), /Ended \d+ other sessions?\./);
    expect([await works(laptop.token), await works(script.token)]).toEqual([401, 401]);
    await expectText(table.locator('caption'), '1 active session');

    // The password: the server's refusals beside their fields, then the change, which keeps this session.
    const current = page.getByLabel('Current password');
    const fresh = page.getByLabel('New password');
    await current.fill('not my password at all');
    await fresh.fill('a new passphrase for Ada');
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await describedBy(current)).toContain('is not your current password');
    await current.fill(PASSWORD);
    await fresh.fill('Password123');
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await describedBy(fresh)).toContain('is too common');
    await capture('password-refused');
    await fresh.fill('a new passphrase for Ada');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expectText(page.getByRole('status').first(), 'Password changed. No other session was ended.');
    const token = await storedToken();
    expect(await works(token)).toBe(200);
    // Back to the password the later steps log in with, as the owner would change it again (this session stays).
    await unwrap(
      createMailroomAccountClient({ baseUrl: url(), userToken: token }).POST('/auth/password', {
        body: { currentPassword: 'a new passphrase for Ada', newPassword: PASSWORD },
      }),
    );
    await page.getByRole('link', { name: 'Account', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'Account', level: 1 }));
    page.off('request', countProfileReads);
    expect(profileReads).toEqual([]);
  });

  test('a revoked token goes back to log-in with the server’s reason', async () => {
    const token = await storedToken();
    await unwrap(createMailroomAccountClient({ baseUrl: url(), userToken: token }).POST('/auth/logout'));
    await page
      .getByRole('link', { name: 'API keys' })
      .or(page.getByRole('link', { name: 'Acme Mail EU' }))
      .first()
      .click();
    await visible(page.getByRole('heading', { name: 'Log in', level: 1 }));
    await expectText(
      page.getByRole('status'),
      'Your session ended: The user token has been revoked (logged out): log in again',
    );
    expect(await storedTokenOrNull()).toBeNull();
  });

  test('a 429 says when to retry', async () => {
    const stranger = `nobody-${run}@example.com`;
    for (let i = 0; i <= FAILED_LOG_INS; i++) {
      await page.getByLabel('Email').fill(stranger);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      await expectText(page.getByRole('alert'), i < FAILED_LOG_INS ? 'Invalid email or password' : 'Try again in');
    }
    // The window of failed log-ins runs in 15-minute slots of the clock: the wait is what is left of this one.
    await expectText(page.getByRole('alert'), /Try again in \d+ (minutes?|seconds?) \(at .+\)\./);
    await expectText(page.getByRole('alert'), /Request id [0-9a-f-]{36}/);
    await capture('rate-limited');
  });

  test('logs in, and logs out', async () => {
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(page.getByRole('heading', { name: 'API keys', level: 1 }));
    const token = await storedToken();
    await page.getByRole('button', { name: 'Log out' }).click();
    await visible(page.getByRole('heading', { name: 'Log in', level: 1 }));
    await expectText(page.getByRole('status'), 'You have logged out.');
    expect(await storedTokenOrNull()).toBeNull();
    // The server ended it too.
    const after = await createMailroomAccountClient({ baseUrl: url(), userToken: token, retry: false }).GET('/auth/me');
    expect(after.response.status).toBe(401);
  });

  test('an expired token goes back to log-in with the reason', async () => {
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(page.getByRole('heading', { name: 'API keys', level: 1 }));
    await expectText(page.getByRole('main'), /No keys yet|active key/);
    // The server's clock moves past the token's 30 days; the next request is refused, and the console says why.
    clockOffsetMs = 31 * DAY_MS;
    await page.getByRole('link', { name: 'Members and settings' }).click();
    await visible(page.getByRole('heading', { name: 'Log in', level: 1 }));
    await expectText(page.getByRole('status'), /Your session ended: The user token expired at .+: log in again/);
    clockOffsetMs = 0;

    // A tab reopened after the stored expiry doesn't wait for the server to say so.
    await page.evaluate(
      (key) => sessionStorage.setItem(key, JSON.stringify({ token: 'mru_x', expiresAt: '2020-01-01T00:00:00Z' })),
      SESSION_STORAGE_KEY,
    );
    await page.reload();
    await expectText(page.getByRole('status'), 'Your session expired at');
  });

  test('works from an origin that is not a secure context: without crypto.randomUUID and the clipboard API', async () => {
    const insecure = await context.newPage();
    const errors: string[] = [];
    insecure.on('pageerror', (error) => errors.push(error.message));
    try {
      await insecure.goto(`http://${INSECURE_HOST}:${server?.port}/console`);
      expect(
        await insecure.evaluate(() => ({
          secure: isSecureContext,
          randomUUID: typeof crypto.randomUUID,
          clipboard: typeof navigator.clipboard,
        })),
      ).toEqual({ secure: false, randomUUID: 'undefined', clipboard: 'undefined' });
      await insecure.getByLabel('Email').fill(owner.email);
      await insecure.getByLabel('Password').fill(PASSWORD);
      await insecure.getByRole('button', { name: 'Log in' }).click();
      await visible(insecure.getByRole('heading', { name: 'API keys', level: 1 }));
      await insecure.getByRole('button', { name: 'Create key' }).click();
      const dialog = insecure.getByRole('dialog', { name: 'Create key' });
      await dialog.getByLabel('Name').fill('From the LAN');
      await dialog.getByRole('button', { name: 'Create key' }).click();
      const reveal = insecure.getByRole('dialog', { name: 'Your new key: From the LAN' });
      const secret = reveal.getByLabel('API key');
      const apiKey = await secret.inputValue();
      // No clipboard API here: "Copy" selects the key for the reader to copy by hand, and says so.
      await reveal.getByRole('button', { name: 'Copy' }).click();
      await expectText(reveal.getByRole('status'), 'Selected: press Ctrl+C');
      expect(
        await secret.evaluate((input: HTMLInputElement) =>
          input.value.slice(input.selectionStart ?? 0, input.selectionEnd ?? 0),
        ),
      ).toBe(apiKey);
      expect((await validate(apiKey)).status).toBe(200);
      expect(errors).toEqual([]);
    } finally {
      await insecure.close();
    }
  });

  test('logs no console errors (no CSP violation among them) and loads nothing from another host', () => {
    expect(consoleErrors).toEqual([]);
    expect([...offHost]).toEqual([]);
  });

  test('refuses to parse HTML from a string (Trusted Types), so injected markup can’t become script', async () => {
    const outcome = await page.evaluate(() => {
      try {
        document.createElement('div').innerHTML = '<img src=x onerror=alert(1)>';
        return 'assigned';
      } catch (error) {
        return (error as Error).name;
      }
    });
    expect(outcome).toBe('TypeError');
  });
});

// ---------------------------------------------------------------------------------------------

function url(): string {
  if (!server) {
    throw new Error('no server');
  }
  return server.url;
}

function ownerEmail(): string {
  return owner.email;
}

/** The organization in the page's route. */
function currentOrganization(): { organizationId: string } {
  const match = /#\/organizations\/(org_[a-z0-9]{16})\//.exec(page.url());
  if (!match?.[1]) {
    throw new Error(`no organization in ${page.url()}`);
  }
  return { organizationId: match[1] };
}

/** Screenshots of the page at 1280 and 390 px, each checked with axe: no serious or critical violation. */
async function capture(name: string): Promise<void> {
  await captureIn(page, name);
}

/** The label of the focused control (its accessible name as a person reads it), or its text for a button. */
async function focusedLabel(): Promise<string> {
  await page.waitForFunction(() => document.activeElement && document.activeElement !== document.body);
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement;
    const labels = (element as HTMLInputElement).labels;
    return (labels?.[0]?.textContent ?? element.textContent ?? '').trim();
  });
}

/**
 * Whether the element gets focus within a few seconds: a closing dialog hands focus back as Preact unmounts it, which
 * on a loaded machine can land a moment after the dialog is gone from the page.
 */
async function isFocused(locator: Locator): Promise<boolean> {
  const focused = () => locator.evaluate((element) => element === document.activeElement);
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await page.waitForTimeout(50)) {
    if (await focused()) {
      return true;
    }
  }
  return focused();
}

async function selectedText(select: Locator): Promise<string> {
  return select.evaluate((element) => {
    const list = element as HTMLSelectElement;
    return list.selectedOptions[0]?.textContent ?? '';
  });
}

async function storedTokenOrNull(): Promise<string | null> {
  return page.evaluate((key) => {
    const text = sessionStorage.getItem(key);
    return text === null ? null : ((JSON.parse(text) as { token: string }).token ?? null);
  }, SESSION_STORAGE_KEY);
}

async function storedToken(): Promise<string> {
  const token = await storedTokenOrNull();
  if (!token) {
    throw new Error('no token in sessionStorage');
  }
  return token;
}

/** Calls `GET /v1/api-keys/validate` with a key from Node, through the project's client. */
async function validate(apiKey: string) {
  const client = createMailroomClient({ baseUrl: url(), apiKey, retry: false });
  const { response, data, error } = await client.GET('/v1/api-keys/validate');
  return {
    status: response.status,
    body: data ?? error,
    deprecation: response.headers.get('Deprecation'),
    sunset: response.headers.get('Sunset'),
  };
}

async function signUpFromNode(tag: string, name: string): Promise<{ email: string }> {
  const email = `${tag}-${run}@example.com`;
  await unwrap(
    createMailroomAccountClient({ baseUrl: url() }).POST('/auth/signup', { body: { email, password: PASSWORD, name } }),
  );
  return { email };
}

async function logInFromNode(email: string) {
  const session = await unwrap(
    createMailroomAccountClient({ baseUrl: url() }).POST('/auth/login', { body: { email, password: PASSWORD } }),
  );
  return createMailroomAccountClient({ baseUrl: url(), userToken: session.token });
}
