// The console's webhooks page in Debian's Chromium against an in-process server that may deliver to a private address
// (allowPrivate, as --allow-private-webhooks): an endpoint made in the page on a real local receiver gets its secret
// once, and every delivery it receives, test events and key events alike, verifies with that secret (verifyWebhook of
// the client); edit, disable, rotate, deliveries with Retry and delete, all by role and accessible name, with the
// signed-in user's token (the /organizations/{organizationId}/webhook-endpoints twins): no API key is asked for.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMailroomAccountClient, unwrap, verifyWebhook } from '../../src/client/index.ts';
import { SESSION_STORAGE_KEY } from '../../src/console/session.ts';
import { type Receiver, startReceiver } from '../webhooks/helpers/receiver.ts';
import {
  type ConsoleRun,
  capture,
  describedBy,
  expectText,
  hidden,
  organizationOf,
  signUpInPage,
  startConsole,
  tokenOf,
  visible,
} from './helpers/console.ts';

let run: ConsoleRun;
let receiver: Receiver;
const tag = Date.now().toString(36);
const HOOK = '/hooks/mailroom';
let secret = '';

beforeAll(async () => {
  receiver = await startReceiver();
  // Retries an hour apart: a failed delivery stays pending until "Retry" makes it due now.
  run = await startConsole({ webhooks: { allowPrivate: true, retrySchedule: [3600], pollMs: 100 } });
  await signUpInPage(run, { name: 'Mary Jackson', email: `mary-${tag}@example.com` });
});

afterAll(async () => {
  await run?.close();
  await receiver?.close();
});

/** A key of the page's organization made from Node with the page's user token (the keys page is tested elsewhere). */
async function keyWith(name: string, permissions?: string[]): Promise<string> {
  const account = createMailroomAccountClient({
    baseUrl: run.url,
    userToken: await tokenOf(run.page, SESSION_STORAGE_KEY),
  });
  const created = await unwrap(
    account.POST('/organizations/{organizationId}/api-keys', {
      params: { path: { organizationId: organizationOf(run.page) } },
      body: { name, ...(permissions ? { permissions: permissions as never } : {}) },
    }),
  );
  return created.apiKey;
}

/** The deliveries the receiver got, each verified with the given secrets: their event types. */
async function verifiedTypes(secrets: string | string[]): Promise<string[]> {
  const types: string[] = [];
  for (const delivery of receiver.at(HOOK)) {
    const event = await verifyWebhook(delivery.body, delivery.headers as Record<string, string>, secrets);
    types.push(event.type);
  }
  return types;
}

/** Refreshes the deliveries until the row of `deliveryId` (or the newest) shows `text`. */
async function deliveryShows(text: string): Promise<void> {
  const { page } = run;
  await expect
    .poll(
      async () => {
        await page.getByRole('button', { name: 'Refresh deliveries' }).click();
        const rows = page.getByRole('region', { name: /Deliveries to/ }).getByRole('row');
        await visible(rows.nth(1));
        return rows.nth(1).textContent();
      },
      { timeout: 10_000, interval: 300 },
    )
    .toContain(text);
}

describe('webhooks in the console', () => {
  test("works with the signed-in user's token: no API key is asked for", async () => {
    const { page } = run;
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await visible(page.getByRole('heading', { name: 'Webhooks', level: 1 }));
    await expectText(page.getByRole('main'), 'No endpoints yet');
    await visible(page.getByRole('button', { name: 'Add endpoint' }));
    expect(await page.getByLabel('API key').count()).toBe(0);
    await capture(page, 'webhooks-empty');
  });

  test('adds an endpoint on a local receiver: a URL the server refuses first, then the secret once with Copy', async () => {
    const { page } = run;
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add endpoint' });
    await visible(dialog);
    await dialog.getByLabel('URL').fill('ftp://files.example.com/hook');
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();
    expect(await describedBy(dialog.getByLabel('URL'))).toMatch(/https?/);
    await capture(page, 'webhooks-add-refused');
    await dialog.getByLabel('URL').fill(`${receiver.url}${HOOK}`);
    await dialog.getByLabel('Description (optional)').fill('Local receiver');
    await dialog.getByRole('checkbox', { name: 'Every event' }).uncheck();
    await dialog.getByRole('checkbox', { name: 'api_key.created' }).check();
    await dialog.getByRole('checkbox', { name: 'api_key.revoked' }).check();
    await capture(page, 'webhooks-add');
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();

    const reveal = page.getByRole('dialog', { name: 'Your endpoint’s signing secret' });
    await visible(reveal);
    secret = await reveal.getByLabel('Signing secret').inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await reveal.getByRole('button', { name: 'Copy' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await expectText(row, 'Local receiver');
    await expectText(row, 'Enabled');
    await expectText(row, 'api_key.created');
    expect(await page.content()).not.toContain(secret);
  });

  test('a test event and a key event reach the receiver, signed with that secret', async () => {
    const { page } = run;
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await row.getByRole('button', { name: /^Send test/ }).click();
    await expectText(page.getByRole('status').first(), 'Sent a test event');
    await visible(page.getByRole('heading', { name: /Deliveries to/ }));
    await deliveryShows('succeeded');
    await keyWith('Made while subscribed');
    await expect.poll(() => receiver.at(HOOK).length, { timeout: 10_000 }).toBe(2);
    expect((await verifiedTypes(secret)).sort()).toEqual(['api_key.created', 'ping']);
    await deliveryShows('api_key.created');
  });

  test('edits the endpoint, and disables and enables it', async () => {
    const { page } = run;
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await row.getByRole('button', { name: /^Edit/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit endpoint' });
    await dialog.getByLabel('Description (optional)').fill('Local receiver, edited');
    await dialog.getByRole('button', { name: 'Save endpoint' }).click();
    await hidden(dialog);
    await expectText(row, 'Local receiver, edited');

    await row.getByRole('button', { name: /^Disable/ }).click();
    await expectText(row, 'Disabled');
    await expectText(page.getByRole('status').first(), 'Disabled');
    // Disabled: a key event is not queued for it.
    await keyWith('Made while disabled');
    await row.getByRole('button', { name: /^Enable/ }).click();
    await expectText(row, 'Enabled');
  });

  test('a failed delivery shows its answer, and Retry sends it again', async () => {
    const { page } = run;
    receiver.answer(HOOK, { status: 500 });
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await row.getByRole('button', { name: /^Send test/ }).click();
    await deliveryShows('HTTP 500');
    await deliveryShows('pending');
    await capture(page, 'webhooks');
    const newest = page
      .getByRole('region', { name: /Deliveries to/ })
      .getByRole('row')
      .nth(1);
    await newest.getByRole('button', { name: /^Retry/ }).click();
    await expectText(page.getByRole('status').first(), 'Retrying the ping delivery');
    await deliveryShows('succeeded');
    await expectText(newest, 'HTTP 200');
    // The receiver saw the ping twice (a 500, then a 200), the same event id both times; no event of the disabled spell.
    const pings = receiver.at(HOOK).filter((d) => d.body.includes('"ping"'));
    expect(pings.length).toBe(3);
    expect(pings[1]?.headers['webhook-id']).toBe(pings[2]?.headers['webhook-id']);
    expect((await verifiedTypes(secret)).filter((type) => type === 'api_key.created')).toHaveLength(1);
  });

  test('rotates the secret: the new one shown once, and both sign meanwhile', async () => {
    const { page } = run;
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await row.getByRole('button', { name: /^Rotate secret/ }).click();
    const confirm = page.getByRole('dialog', { name: /^Rotate the secret of/ });
    await visible(confirm);
    await confirm.getByRole('button', { name: 'Rotate secret' }).click();
    const reveal = page.getByRole('dialog', { name: 'New signing secret' });
    await visible(reveal);
    const fresh = await reveal.getByLabel('Signing secret').inputValue();
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(secret);
    await expectText(reveal, 'every delivery carries two signatures');
    await capture(page, 'webhooks-rotated');
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);

    const before = receiver.at(HOOK).length;
    await row.getByRole('button', { name: /^Send test/ }).click();
    await expect.poll(() => receiver.at(HOOK).length, { timeout: 10_000 }).toBe(before + 1);
    const last = receiver.at(HOOK).at(-1);
    if (!last) {
      throw new Error('no delivery');
    }
    const headers = last.headers as Record<string, string>;
    expect((await verifyWebhook(last.body, headers, fresh)).type).toBe('ping');
    expect((await verifyWebhook(last.body, headers, secret)).type).toBe('ping');
  });

  test('deletes the endpoint after confirmation', async () => {
    const { page } = run;
    const row = page.getByRole('row', { name: new RegExp(HOOK) });
    await row.getByRole('button', { name: /^Delete/ }).click();
    const dialog = page.getByRole('dialog', { name: /^Delete / });
    await dialog.getByRole('button', { name: 'Delete endpoint' }).click();
    await hidden(dialog);
    await expectText(page.getByRole('main'), 'No endpoints yet');
  });

  test('logs no console errors and loads nothing from another host', () => {
    expect(run.errors).toEqual([]);
    expect([...run.offHost]).toEqual([]);
  });
});
