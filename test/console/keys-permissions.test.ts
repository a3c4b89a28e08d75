// The console's keys with permissions and environments, in Debian's Chromium against an in-process server: a key
// made in the page with one permission in one environment does exactly that from Node, and the list says so.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMailroomClient } from '../../src/client/index.ts';
import { PERMISSIONS } from '../../src/lib/permissions.ts';
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

beforeAll(async () => {
  run = await startConsole();
  await signUpInPage(run, { name: 'Katherine Johnson', email: `katherine-${tag}@example.com` });
});

afterAll(async () => {
  await run?.close();
});

describe('API keys with permissions and environments', () => {
  test('the create dialog offers the environment, every permission (all checked) and their shorthands', async () => {
    const { page } = run;
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await visible(dialog);
    const environment = dialog.getByLabel('Environment', { exact: true });
    expect(await environment.inputValue()).toBe('production');
    const group = dialog.getByRole('group', { name: 'Permissions' });
    const boxes = group.getByRole('checkbox');
    expect(await boxes.count()).toBe(PERMISSIONS.length);
    for (const box of await boxes.all()) {
      expect(await box.isChecked()).toBe(true);
    }
    await group.getByRole('button', { name: 'Read only' }).click();
    expect(await group.getByRole('checkbox', { name: 'contacts:read' }).isChecked()).toBe(true);
    expect(await group.getByRole('checkbox', { name: 'contacts:write' }).isChecked()).toBe(false);
    expect(await group.getByRole('checkbox', { name: 'api_keys:write' }).isChecked()).toBe(false);
    await group.getByRole('button', { name: 'Full access' }).click();
    expect(await group.getByRole('checkbox', { name: 'contacts:write' }).isChecked()).toBe(true);
    await capture(page, 'create-key-permissions');

    // No permission at all: sent as it is, and the server's message sits beneath the group.
    for (const box of await boxes.all()) {
      await box.uncheck();
    }
    await dialog.getByLabel('Name').fill('Nothing at all');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await expectText(dialog.getByRole('alert'), 'The given data was invalid');
    expect(await describedBy(group)).toMatch(/fewer than 1 items/);
    await capture(page, 'create-key-permissions-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await hidden(dialog);
    await expectText(page.getByRole('main'), 'No keys yet');
  });

  test('a staging key with contacts:read only reads contacts from Node, is refused a write, and is listed so', async () => {
    const { page } = run;
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await visible(dialog);
    await dialog.getByLabel('Name').fill('Staging reader');
    await dialog.getByLabel('Environment', { exact: true }).selectOption('staging');
    const group = dialog.getByRole('group', { name: 'Permissions' });
    for (const box of await group.getByRole('checkbox').all()) {
      await box.uncheck();
    }
    await group.getByRole('checkbox', { name: 'contacts:read' }).check();
    await dialog.getByLabel('Rate limit, requests per minute (optional)').fill('120');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const reveal = page.getByRole('dialog', { name: 'Your new key: Staging reader' });
    await visible(reveal);
    const apiKey = await reveal.getByLabel('API key').inputValue();
    expect(apiKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    await reveal.getByRole('button', { name: 'Done' }).click();
    await hidden(reveal);

    const client = createMailroomClient({ baseUrl: run.url, apiKey, retry: false });
    const read = await client.GET('/v1/contacts');
    expect(read.response.status).toBe(200);
    const write = await client.POST('/v1/contacts', { body: { email: `someone-${tag}@example.com` } });
    expect(write.response.status).toBe(403);
    expect(write.error).toMatchObject({ error: { code: 'FORBIDDEN', details: { permissions: ['contacts:write'] } } });

    const row = page.getByRole('row', { name: /Staging reader/ });
    await visible(row);
    await expectText(row.getByRole('cell').nth(1), 'staging');
    await expectText(row.getByRole('cell').nth(2), 'contacts:read');
    expect(await row.getByRole('cell').nth(2).textContent()).toBe('contacts:read');
    await expectText(row, '120 / min');
    // Used from Node a moment ago: "Last used" says so once the page reads the list again (recorded within a second).
    await expect
      .poll(
        async () => {
          await page.reload();
          const lastUsed = page
            .getByRole('row', { name: /Staging reader/ })
            .getByRole('cell')
            .nth(6);
          await visible(lastUsed);
          return lastUsed.textContent();
        },
        { timeout: 10_000, interval: 500 },
      )
      .toMatch(/ago|now/);
  });

  test('a full-access production key and a read-only development key are described in a few words', async () => {
    const { page } = run;
    for (const [name, environment, shorthand] of [
      ['Production sender', 'production', 'Full access'],
      ['Dev dashboard', 'development', 'Read only'],
    ] as const) {
      await page.getByRole('button', { name: 'Create key' }).click();
      const dialog = page.getByRole('dialog', { name: 'Create key' });
      await dialog.getByLabel('Name').fill(name);
      await dialog.getByLabel('Environment', { exact: true }).selectOption(environment);
      await dialog.getByRole('group', { name: 'Permissions' }).getByRole('button', { name: shorthand }).click();
      await dialog.getByRole('button', { name: 'Create key' }).click();
      const reveal = page.getByRole('dialog', { name: `Your new key: ${name}` });
      await reveal.getByRole('button', { name: 'Done' }).click();
      await hidden(reveal);
      const row = page.getByRole('row', { name: new RegExp(name) });
      await expectText(row.getByRole('cell').nth(1), environment);
      await expectText(row.getByRole('cell').nth(2), shorthand);
    }
    await expectText(page.getByRole('table').locator('caption'), '3 active keys');
    await capture(page, 'keys-permissions');
  });

  test('the list is filtered by environment, by the server', async () => {
    const { page } = run;
    const filter = page.getByLabel('Environment', { exact: true });
    const requests: string[] = [];
    const record = (request: { url(): string }) => {
      if (request.url().includes('/api-keys')) {
        requests.push(request.url());
      }
    };
    page.on('request', record);
    await filter.selectOption('staging');
    await expectText(page.getByRole('table').locator('caption'), '1 active key in staging');
    expect(await page.getByRole('row', { name: /Staging reader/ }).count()).toBe(1);
    expect(await page.getByRole('row', { name: /Production sender|Dev dashboard/ }).count()).toBe(0);
    expect(requests.some((url) => url.endsWith('api-keys?environment=staging'))).toBe(true);
    await capture(page, 'keys-filtered');
    await filter.selectOption('development');
    await expectText(page.getByRole('table').locator('caption'), '1 active key in development');
    await visible(page.getByRole('row', { name: /Dev dashboard/ }));
    await filter.selectOption('');
    await expectText(page.getByRole('table').locator('caption'), '3 active keys');
    page.off('request', record);
  });

  test('a key’s Usage link opens the usage page on that key', async () => {
    const { page } = run;
    await page
      .getByRole('row', { name: /Dev dashboard/ })
      .getByRole('link', { name: 'Usage of Dev dashboard' })
      .click();
    await visible(page.getByRole('heading', { name: 'Usage', level: 1 }));
    expect(page.url()).toMatch(/#\/organizations\/org_[a-z0-9]{16}\/usage\/key_[a-z0-9]{16}$/);
    await expect.poll(() => page.getByLabel('Key').locator('option:checked').textContent()).toContain('Dev dashboard');
    await expectText(page.getByRole('table', { name: /^Dev dashboard,/ }).locator('caption'), '0 requests');
  });

  test('logs no console errors and loads nothing from another host', () => {
    expect(run.errors).toEqual([]);
    expect([...run.offHost]).toEqual([]);
  });
});
