// The console's usage pages in Debian's Chromium against an in-process server: requests made from Node with a key
// made in the page show in its usage chart and table, counted by status class, and in the request log, each with the
// request id Node saw; the log's filters narrow it, and the chart's library is loaded only with its page.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMailroomClient } from '../../src/client/index.ts';
import {
  type ConsoleRun,
  capture,
  describedBy,
  expectText,
  hidden,
  signUpInPage,
  startConsole,
  visible,
} from './helpers/console.ts';

let run: ConsoleRun;
const tag = Date.now().toString(36);
/** The X-Request-Id of each request made from Node, by its status. */
const sent: { status: number; requestId: string }[] = [];
const chunkRequests: string[] = [];

beforeAll(async () => {
  run = await startConsole();
  run.page.on('request', (request) => {
    if (request.url().includes('/console/chunks/')) {
      chunkRequests.push(request.url());
    }
  });
  await signUpInPage(run, { name: 'Dorothy Vaughan', email: `dorothy-${tag}@example.com` });
});

afterAll(async () => {
  await run?.close();
});

/** The cells of a table row as text. */
async function cellsOf(row: ReturnType<ConsoleRun['page']['getByRole']>): Promise<string[]> {
  return (await row.getByRole('cell').allTextContents()).map((text) => text.trim());
}

describe('usage and the request log', () => {
  test('a key made in the page is used from Node: 4 successes, a refused create, then 2 rate-limited reads', async () => {
    const { page } = run;
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await dialog.getByLabel('Name').fill('Newsletter sync');
    await dialog.getByLabel('Rate limit, requests per minute (optional)').fill('5');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const reveal = page.getByRole('dialog', { name: 'Your new key: Newsletter sync' });
    const apiKey = await reveal.getByLabel('API key').inputValue();
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);

    // No retries and no pacing: the 429s are the point, so the client must send them rather than wait its turn.
    const client = createMailroomClient({ baseUrl: run.url, apiKey, retry: false, pacing: false });
    const note = (response: Response) =>
      sent.push({ status: response.status, requestId: response.headers.get('X-Request-Id') ?? '' });
    for (let i = 0; i < 4; i++) {
      note((await client.GET('/v1/contacts')).response);
    }
    note((await client.POST('/v1/contacts', { body: { email: 'not an email' } })).response);
    for (let i = 0; i < 2; i++) {
      note((await client.GET('/v1/contacts')).response);
    }
    expect(sent.map((s) => s.status)).toEqual([200, 200, 200, 200, 422, 429, 429]);
    expect(sent.every((s) => /^[0-9a-f-]{36}$/.test(s.requestId))).toBe(true);

    // The key list says when and from where it was last used.
    await expect
      .poll(
        async () => {
          await page.reload();
          const row = page.getByRole('row', { name: /Newsletter sync/ });
          await visible(row);
          return row.textContent();
        },
        { timeout: 10_000, interval: 500 },
      )
      .toContain('from 127.0.0.1');
  });

  test('the usage page charts them by hour, split 2xx/4xx/429/5xx, with a table of the same numbers', async () => {
    const { page } = run;
    expect(chunkRequests.filter((url) => url.includes('usage-chart'))).toEqual([]);
    await page.getByRole('link', { name: 'Usage', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'Usage', level: 1 }));
    expect(await page.getByLabel('Key').locator('option:checked').textContent()).toContain('Newsletter sync');
    const table = page.getByRole('table', { name: /^Newsletter sync,/ });
    // Recorded within about a second: refreshed until all seven are in.
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          return (await table.locator('caption').textContent()) ?? '';
        },
        { timeout: 10_000, interval: 500 },
      )
      .toContain('7 requests');
    const rows = table.getByRole('row');
    // The header, this hour's row (the requests may straddle an hour: then two rows and a total).
    const totals = await cellsOf((await rows.count()) === 2 ? rows.nth(1) : rows.last());
    expect(totals).toEqual(['4', '3', '2', '0', '7']);
    expect(await table.getByRole('columnheader').allTextContents()).toEqual([
      'Hour',
      '2xx',
      '4xx',
      'of which 429',
      '5xx',
      'Total',
    ]);
    // The chart: drawn on a canvas by uPlot, its module fetched only now, with this page.
    const figure = page.getByRole('figure');
    await expectText(figure, '7 in all, 2 rate limited');
    await visible(figure.locator('canvas').first());
    expect(chunkRequests.some((url) => /usage-chart-[A-Z0-9]+\.js$/.test(url))).toBe(true);
    await capture(page, 'usage');

    await page.getByLabel('Bars').selectOption({ label: 'By day' });
    await expectText(table.getByRole('columnheader').first(), 'Day');
    await expectText(table.locator('caption'), '7 requests');
    await page.getByLabel('Period').selectOption({ label: 'Last 30 days' });
    await expectText(table.locator('caption'), 'last 30 days, by day: 7 requests');

    // The organization's totals over the same period: by environment (the console's own user-token requests apart),
    // then by key.
    const organization = page.getByRole('table', { name: /^Last 30 days, by / });
    await expectText(organization.locator('caption'), 'by environment');
    await visible(organization.getByRole('row', { name: /^production/ }));
    expect(await cellsOf(organization.getByRole('row', { name: /^production/ }))).toEqual(['4', '3', '2', '0', '7']);
    await visible(organization.getByRole('row', { name: /^User tokens \(members\)/ }));
    await page.getByLabel('Totals by').selectOption({ label: 'Key' });
    await expectText(organization.locator('caption'), 'by key');
    await visible(organization.getByRole('row', { name: /^Newsletter sync/ }));
    expect(await cellsOf(organization.getByRole('row', { name: /^Newsletter sync/ }))).toEqual([
      '4',
      '3',
      '2',
      '0',
      '7',
    ]);
    await capture(page, 'usage-totals');
  });

  test('the request log lists them with the request ids Node saw, filtered by key, status and operation', async () => {
    const { page } = run;
    await page.getByRole('link', { name: 'Request log' }).click();
    await visible(page.getByRole('heading', { name: 'Request log', level: 1 }));
    const key = page.getByLabel('Key');
    // The key's option, once the page has read the keys: "Newsletter sync (mr_…_****)".
    await expectText(key, 'Newsletter sync');
    const option = (await key.getByRole('option').allTextContents()).find((text) => text.includes('Newsletter sync'));
    await key.selectOption({ label: option ?? '' });
    await page.getByRole('button', { name: 'Show requests' }).click();
    const table = page.getByRole('table');
    await expectText(table.locator('caption'), '7 requests, newest first');
    const shown = await table.locator('tbody').getByRole('code').allTextContents();
    for (const { requestId } of sent) {
      expect((await table.textContent()) ?? '').toContain(requestId);
    }
    expect(shown.length).toBeGreaterThan(0);
    await capture(page, 'request-log');

    // Status 429: the two rate-limited reads, newest first.
    await page.getByLabel('Status').fill('429');
    await page.getByRole('button', { name: 'Show requests' }).click();
    await expectText(table.locator('caption'), '2 requests');
    const limited = sent.filter((s) => s.status === 429).map((s) => s.requestId);
    const text = (await table.textContent()) ?? '';
    expect(limited.every((id) => text.includes(id))).toBe(true);

    // Copy a request id from its row.
    const first = limited.at(-1) ?? '';
    const row = page.getByRole('row', { name: /GET/ }).filter({ hasText: first });
    await row.getByRole('button', { name: `Copy request id ${first}` }).click();
    await expectText(row.getByRole('status'), 'Copied to the clipboard');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(first);

    // The operation filter offers what was called; createContact is the refused create alone.
    await page.getByLabel('Status').fill('');
    await page.getByLabel('Operation').selectOption('createContact');
    await page.getByRole('button', { name: 'Show requests' }).click();
    await expectText(table.locator('caption'), '1 request,');
    await expectText(table, sent.find((s) => s.status === 422)?.requestId ?? 'none');
    await expectText(table, '422');

    // The time filter, in the reader's time zone: a start after now (the default end) is the server's 422, beside
    // "From"; an hour that ended before them holds none of them.
    const local = (offsetMs: number) => {
      const at = new Date(Date.now() + offsetMs);
      return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    };
    await page.getByLabel('Operation').selectOption('');
    await page.getByLabel('From').fill(local(3_600_000));
    await page.getByRole('button', { name: 'Show requests' }).click();
    expect(await describedBy(page.getByLabel('From'))).toMatch(/must not be after to/);
    await page.getByLabel('From').fill(local(-7_200_000));
    await page.getByLabel('To').fill(local(-3_600_000));
    await page.getByRole('button', { name: 'Show requests' }).click();
    await expectText(page.getByRole('main'), 'No requests match these filters');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await visible(table);
  });

  test('a filter the server refuses shows its message beside the field', async () => {
    const { page } = run;
    await page.getByLabel('Status').fill('600');
    await page.getByRole('button', { name: 'Show requests' }).click();
    await expectText(page.getByRole('alert'), 'The given data was invalid');
    expect(await describedBy(page.getByLabel('Status'))).toMatch(/must be <= 599/);
    await capture(page, 'request-log-refused');
  });

  test('logs no console errors and loads nothing from another host', () => {
    expect(run.errors).toEqual([]);
    expect([...run.offHost]).toEqual([]);
  });
});
