// The docs page (`/docs`, generated/docs/index.html) in a real browser: Debian's Chromium driven by
// playwright-core against an in-process reference server. What is checked comes from the BUNDLED spec
// (generated/openapi.json), so a new tag, operation, intro table or error code is covered without
// editing this file. Every request that would leave 127.0.0.1 is aborted and recorded, so the test is
// the same with or without a network. Screenshots go to test-output/docs/ (gitignored).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type ServerHandle, startServer } from '../../src/server/index.ts';

const root = resolve(import.meta.dirname, '../..');
const docsFile = join(root, 'generated', 'docs', 'index.html');
const outDir = join(root, 'test-output', 'docs');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// ---------------------------------------------------------------------------------------------
// The bundled spec, with just enough typing to walk it.

interface ExampleObject {
  summary?: string;
  value?: unknown;
}
interface ResponseObject {
  content?: Record<string, { examples?: Record<string, ExampleObject> }>;
}
interface CodeSample {
  lang: string;
  label?: string;
  source: string;
}
interface OperationObject {
  operationId?: string;
  summary?: string;
  tags?: string[];
  requestBody?: { content?: Record<string, { examples?: Record<string, ExampleObject> }> };
  responses?: Record<string, ResponseObject | { $ref: string }>;
  'x-codeSamples'?: CodeSample[];
}
interface SpecDocument {
  info: { title: string; description?: string };
  tags?: { name: string }[];
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, { enum?: string[] }>; responses?: Record<string, ResponseObject> };
}

const specText = readFileSync(join(root, 'generated', 'openapi.json'), 'utf8');
const spec = JSON.parse(specText) as SpecDocument;
const httpMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const operations: OperationObject[] = Object.values(spec.paths).flatMap((item) =>
  httpMethods.flatMap((method) => (item[method] ? [item[method] as OperationObject] : [])),
);
const tagNames = [
  ...new Set([...(spec.tags ?? []).map((tag) => tag.name), ...operations.flatMap((op) => op.tags ?? [])]),
];
const createApiKey = operations.find((op) => op.operationId === 'createApiKey');

/** A response of an operation, following a `$ref` to components/responses (where the named responses live). */
function responseOf(operation: OperationObject | undefined, status: string): ResponseObject | undefined {
  const response = operation?.responses?.[status];
  if (response !== undefined && '$ref' in response) {
    const name = response.$ref.replace('#/components/responses/', '');
    return spec.components.responses?.[name];
  }
  return response;
}

/** The first named example of an operation's request body or of one of its responses. */
function firstExample(content: Record<string, { examples?: Record<string, ExampleObject> }> | undefined) {
  const media = content?.['application/json'];
  return Object.values(media?.examples ?? {})[0];
}

/** Header cells of every Markdown table in a description, e.g. [['plan', 'burst', 'per minute'], …]. */
function markdownTableHeaders(markdown: string): string[][] {
  const lines = markdown.split('\n');
  const headers: string[][] = [];
  lines.forEach((line, i) => {
    if (/^\|[\s:|-]+\|\s*$/.test(line) && line.includes('-')) {
      const header = lines[i - 1] ?? '';
      headers.push(
        header
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim().replaceAll('`', '')),
      );
    }
  });
  return headers;
}

/** `## Heading` lines of a description. */
function markdownHeadings(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,3} +(.+)$/gm)].map((m) => (m[1] ?? '').trim());
}

const docsFileUrl = pathToFileURL(docsFile).href;

/** Only 127.0.0.1 (and the docs file itself) may be loaded; data: and blob: URLs never reach the network. */
function isLocal(url: string): boolean {
  const parsed = new URL(url);
  if (['data:', 'blob:', 'about:'].includes(parsed.protocol)) {
    return true;
  }
  if (parsed.protocol === 'file:') {
    parsed.hash = '';
    return parsed.href === docsFileUrl;
  }
  return parsed.hostname === '127.0.0.1';
}

// ---------------------------------------------------------------------------------------------

describe('the docs page at /docs in Chromium', () => {
  let server: ServerHandle | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let profileDir: string | undefined;
  /** Every URL the page tried to load from a host other than 127.0.0.1 (all of them aborted). */
  const external = new Set<string>();
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `The docs browser test drives Debian's Chromium at ${CHROMIUM}, which is not installed. ` +
          'Install it with `sudo apt-get install -y chromium` (.ci/run does this on CI); ' +
          'never use a browser downloaded by a test tool.',
      );
    }
    mkdirSync(outDir, { recursive: true });
    profileDir = mkdtempSync(join(tmpdir(), 'mailroom-docs-chromium-'));
    // The server (PGlite takes a few seconds to open) and the browser start side by side; both are
    // settled before any failure is thrown, so afterAll can close whichever did start.
    const started = await Promise.allSettled([
      startServer({ port: 0, host: '127.0.0.1', store: { kind: 'pglite' }, logLevel: 'silent' }).then((handle) => {
        server = handle;
      }),
      chromium
        .launchPersistentContext(profileDir, {
          executablePath: CHROMIUM,
          headless: true,
          args: CHROMIUM_ARGS,
          viewport: { width: 1440, height: 900 },
          serviceWorkers: 'block',
        })
        .then((browser) => {
          context = browser;
        }),
    ]);
    for (const result of started) {
      if (result.status === 'rejected') {
        throw result.reason;
      }
    }
    if (!server || !context) {
      throw new Error('the server or the browser did not start');
    }

    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) {
        return route.continue();
      }
      external.add(url);
      return route.abort('blockedbyclient');
    });
    context.on('request', (request) => {
      if (!isLocal(request.url())) {
        external.add(request.url());
      }
    });
    context.on('requestfailed', (request) => {
      if (!isLocal(request.url())) {
        external.add(request.url());
      }
    });

    // The persistent context opens with one page, before any listener; later pages are watched as they open.
    const first = context.pages()[0];
    if (first) {
      watch(first);
    }
    context.on('page', watch);
    page = first ?? (await context.newPage());

    await page.goto(`${server.url}/docs`, { waitUntil: 'load' });
    await waitForHydration(page);
    await page.waitForLoadState('networkidle');
    const screenshot = join(outDir, 'docs.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    // biome-ignore lint/suspicious/noConsole: the screenshot's path is part of the test's output
    console.info(`docs screenshot: ${relative(root, screenshot)}`);
  });

  /** Records a page's errors and its non-local WebSockets. */
  function watch(target: Page): void {
    target.on('websocket', (socket) => {
      if (!isLocal(socket.url())) {
        external.add(socket.url());
      }
    });
    target.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
    target.on('console', (message) => {
      // An external load we aborted shows up as "Failed to load resource" at that URL: it is reported
      // once, by the network test, rather than twice.
      if (message.type() === 'error' && !external.has(message.location().url)) {
        consoleErrors.push(`console.error: ${message.text()} (${message.location().url})`);
      }
    });
  }

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profileDir) {
      rmSync(profileDir, { recursive: true, force: true });
    }
  });

  test('serves the bundled spec at /openapi.json as JSON and at /openapi.yaml as YAML', async () => {
    const base = server?.url ?? '';
    const json = await fetch(`${base}/openapi.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(await json.json()).toEqual(spec);

    const yaml = await fetch(`${base}/openapi.yaml`);
    expect(yaml.status).toBe(200);
    expect(yaml.headers.get('content-type')).toMatch(/^application\/yaml\b/);
    expect(parseYaml(await yaml.text())).toEqual(spec);
  });

  test('serves generated/docs/index.html at /docs with every script inlined and nothing loaded from elsewhere', async () => {
    const html = readFileSync(docsFile, 'utf8');
    const response = await fetch(`${server?.url}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html\b/);
    expect(await response.text()).toBe(html);

    // Parsed by the browser's own HTML parser (a regular expression would trip over the `<script`
    // strings inside the inlined bundle); a DOMParser document loads and runs nothing.
    const blank = await (context as BrowserContext).newPage();
    try {
      const found = await blank.evaluate((source) => {
        const doc = new DOMParser().parseFromString(source, 'text/html');
        const attr = (selector: string, name: string) =>
          Array.from(doc.querySelectorAll(selector)).map(
            (el) => `${el.tagName.toLowerCase()} ${el.getAttribute(name)}`,
          );
        const styles = Array.from(doc.querySelectorAll('style')).map((el) => el.textContent ?? '');
        return {
          scriptSrcs: attr('script[src]', 'src'),
          inlineScripts: Array.from(doc.querySelectorAll('script:not([src])')).map((el) => el.textContent ?? ''),
          loads: [
            ...attr('link[href]:not([rel~="canonical"])', 'href'),
            ...attr('img[src], iframe[src], source[src], video[src], audio[src], embed[src], track[src]', 'src'),
            ...attr('object[data]', 'data'),
            ...styles.flatMap((css) => [...css.matchAll(/url\(\s*['"]?([^'")\s]+)/g)].map((m) => `css ${m[1]}`)),
            ...styles.flatMap((css) => [...css.matchAll(/@import\s+['"]([^'"]+)/g)].map((m) => `css ${m[1]}`)),
          ],
        };
      }, html);
      expect(found.scriptSrcs).toEqual([]);
      expect(found.inlineScripts.some((script) => script.includes('hydrate('))).toBe(true);
      // Redoc 3 batches its telemetry (to otel.cloud.redocly.com) for seconds before sending, longer than
      // this test watches the network, so check the switch itself: build-docs sets it from redocly.yaml's
      // `telemetry: off`.
      expect(found.inlineScripts.join('\n')).toMatch(/__redoc_options = \{[^\n]*"disableTelemetry":true/);
      const remote = found.loads.filter((load) => /^\S+ (https?:)?\/\//.test(load));
      expect(remote).toEqual([]);
    } finally {
      await blank.close();
    }
  });

  test('is titled "Mailroom API" and opens on the introduction with its headings and tables', async () => {
    expect(await page.title()).toBe('Mailroom API');
    expect(spec.info.title).toBe('Mailroom API');
    const content = page.locator('#api-content');
    await expectVisible(content.getByRole('heading', { level: 1 }).filter({ hasText: spec.info.title }));

    const description = spec.info.description ?? '';
    for (const heading of markdownHeadings(description)) {
      // A heading's accessible name also holds its anchor link's label, so match the visible text.
      await expectVisible(content.getByRole('heading').filter({ hasText: exactText(heading) }));
    }
    // Each Markdown table renders as a table (not as pipes in a paragraph), with its header row.
    const rendered = await content
      .locator('table')
      .evaluateAll((tables) =>
        tables.map((table) => Array.from(table.querySelectorAll('thead th')).map((th) => th.textContent?.trim() ?? '')),
      );
    const expected = markdownTableHeaders(description);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    for (const header of expected) {
      expect(rendered).toContainEqual(header);
    }
  });

  test('shows every column of every introduction table at 1280 px wide, the credential comparison included', async () => {
    const viewport = page.viewportSize();
    await page.setViewportSize({ width: 1280, height: 900 });
    try {
      const comparison = page
        .locator('#api-content table')
        .filter({ has: page.locator('thead th', { hasText: /^user token$/ }) })
        .first();
      await comparison.scrollIntoViewIfNeeded();
      await expectVisible(comparison);
      const screenshot = join(outDir, 'accounts-1280.png');
      await page.screenshot({ path: screenshot });
      // biome-ignore lint/suspicious/noConsole: the screenshot's path is part of the test's output
      console.info(`accounts table screenshot (1280 px): ${relative(root, screenshot)}`);

      // Redoc wraps each table in a sideways-scrolling box that shows no scrollbar until scrolled: a column past the
      // box's right edge is simply cut off. Every header cell must lie within its box.
      const tables = await page.locator('#api-content .md-table-wrapper').evaluateAll((wrappers) =>
        wrappers.map((wrapper) => {
          const box = wrapper.getBoundingClientRect();
          const cells = Array.from(wrapper.querySelectorAll('thead th'));
          return {
            header: cells.map((th) => th.textContent?.trim() ?? '').join(' | '),
            cut: cells
              .filter((th) => th.getBoundingClientRect().right > box.right + 0.5)
              .map((th) => th.textContent?.trim() ?? ''),
          };
        }),
      );
      expect(tables.length).toBeGreaterThanOrEqual(markdownTableHeaders(spec.info.description ?? '').length);
      expect(tables.filter((table) => table.cut.length > 0)).toEqual([]);
    } finally {
      if (viewport) {
        await page.setViewportSize(viewport);
      }
    }
  });

  test('lists every error code in the introduction’s error table', async () => {
    const codes = spec.components.schemas.ErrorCode?.enum ?? [];
    expect(codes.length).toBeGreaterThan(0);
    const table = page
      .locator('#api-content table')
      .filter({ has: page.locator('thead th', { hasText: /^code$/ }) })
      .first();
    await expectVisible(table);
    const firstCells = await table
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.querySelector('td')?.textContent?.trim() ?? ''));
    expect([...firstCells].sort()).toEqual([...codes].sort());
  });

  test('lists every permission and, for every /v1 operation, the permission its security names', async () => {
    const permissions = (spec.components.schemas.Permission as { enum?: string[] } | undefined)?.enum ?? [];
    expect(permissions.length).toBeGreaterThan(0);
    const rowsOf = async (firstHeader: RegExp) =>
      page
        .locator('#api-content table')
        .filter({ has: page.locator('thead th', { hasText: firstHeader }) })
        .first()
        .locator('tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent?.trim())),
        );
    const allows = await rowsOf(/^permission$/);
    expect(allows.map(([permission]) => permission)).toEqual(permissions);
    // Read from the bundled spec independently of the decorator: every /v1 operation and its security's scope.
    const expected: string[][] = [];
    for (const [path, item] of Object.entries(spec.paths).filter(([path]) => path.startsWith('/v1/'))) {
      const operations = Object.entries(item as Record<string, { operationId?: string; security?: unknown }>);
      for (const [method, op] of operations.filter(([key]) => key !== 'parameters')) {
        const scope = (op.security as Record<string, string[]>[] | undefined)?.[0];
        const needed = scope ? Object.values(scope)[0]?.[0] : undefined;
        expected.push([`${method.toUpperCase()} ${path} (${op.operationId})`, needed ?? 'any valid key']);
      }
    }
    expect((await rowsOf(/^operation$/)).sort()).toEqual(expected.sort());
  });

  test('lists every tag in the menu, and every operation’s summary under its tag', async () => {
    const menu = page.locator('.menu-content');
    for (const tag of tagNames) {
      const group = menu
        .locator('[data-component-name="Menu/MenuItem"].menu-item-type-group')
        .filter({ has: page.getByText(tag, { exact: true }) });
      await expectVisible(group.getByTestId('menu-item-label').first());
      const summaries = operations.filter((op) => op.tags?.[0] === tag).map((op) => op.summary ?? '');
      expect(summaries.length, `operations tagged ${tag}`).toBeGreaterThan(0);
      const firstSummary = group.getByText(summaries[0] ?? '', { exact: true });
      if (!(await firstSummary.isVisible())) {
        await group.getByTestId('menu-item-label').first().click();
      }
      for (const summary of summaries) {
        await expectVisible(group.getByText(summary, { exact: true }));
      }
    }
    expect(tagNames.length).toBeGreaterThan(0);
  });

  test('shows the create-key request example and its 201 response example', async () => {
    const op = await openOperation(page, createApiKey);
    const requestExample = firstExample(createApiKey?.requestBody?.content);
    const responseExample = firstExample(responseOf(createApiKey, '201')?.content);
    expect(requestExample?.value).toMatchObject({ name: 'Production API', expirationDays: expect.any(Number) });
    expect(responseExample?.value).toMatchObject({
      data: { apiKey: expect.any(String) },
      meta: { warning: expect.any(String) },
    });

    // Request panel: the named example is selected, and its payload shows every field.
    const requestPanel = op.getByTestId('right-panel').filter({ has: page.getByRole('button', { name: 'Example' }) });
    await expectText(requestPanel.getByRole('button', { name: 'Example' }), requestExample?.summary ?? '');
    await chooseSample(page, requestPanel, 'Payload');
    const payload = requestPanel.getByTestId('source-code');
    for (const [key, value] of Object.entries(requestExample?.value as Record<string, unknown>)) {
      await expectText(payload, new RegExp(`"${key}":\\s*${escapeRegExp(JSON.stringify(value))}`));
    }

    // Response panel: 201 comes first and shows the one-time key and the warning in meta.
    const created = responseExample?.value as { data: { apiKey: string }; meta: { warning: string } };
    const responseViewer = op.getByTestId('json-viewer').filter({ hasText: '"apiKey"' });
    await expectVisible(responseViewer);
    await expectText(responseViewer, created.data.apiKey);
    await expectText(responseViewer, /"meta":\s*\{\s*"warning":/);
    await expectText(responseViewer, created.meta.warning);

    // The section is taller than any screen and Redoc renders its fields as they scroll into view, so
    // the screenshot is a tall viewport from the heading down: description, body fields, the request
    // payload and the 201 response side by side.
    const screenshot = join(outDir, 'create-api-key.png');
    const viewport = page.viewportSize();
    await page.setViewportSize({ width: viewport?.width ?? 1440, height: 1400 });
    try {
      await op.evaluate((section) => section.scrollIntoView({ block: 'start' }));
      await expectVisible(responseViewer);
      await page.screenshot({ path: screenshot });
    } finally {
      if (viewport) {
        await page.setViewportSize(viewport);
      }
    }
    // biome-ignore lint/suspicious/noConsole: the screenshot's path is part of the test's output
    console.info(`create-key screenshot: ${relative(root, screenshot)}`);
  });

  test('offers the x-codeSamples of createApiKey (curl and the TypeScript client) as request samples', async () => {
    const samples = createApiKey?.['x-codeSamples'] ?? [];
    expect(samples.map((sample) => sample.label ?? sample.lang)).toEqual(['curl', 'TypeScript client']);
    const op = await openOperation(page, createApiKey);
    const requestPanel = op.getByTestId('right-panel').filter({ has: page.getByRole('button', { name: 'Example' }) });
    for (const sample of samples) {
      const label = sample.label ?? sample.lang;
      await chooseSample(page, requestPanel, label);
      const firstLine = sample.source.split('\n')[0] ?? '';
      await expectText(requestPanel.getByTestId('source-code'), firstLine);
    }
  });

  test('works opened straight from generated/docs/index.html, deep links included', async () => {
    const fromFile = await (context as BrowserContext).newPage();
    try {
      await fromFile.goto(`${docsFileUrl}#/api-keys/createapikey`, { waitUntil: 'load' });
      await waitForHydration(fromFile);
      expect(await fromFile.title()).toBe('Mailroom API');
      await expectVisible(
        fromFile.locator('[id="api-keys/createapikey"]').getByRole('heading', { name: createApiKey?.summary ?? '' }),
      );
    } finally {
      await fromFile.close();
    }
  });

  test('logs no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });

  test('sends no request to a host other than 127.0.0.1', () => {
    expect([...external]).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

async function expectVisible(locator: Locator): Promise<void> {
  await expect.poll(() => locator.isVisible(), { timeout: 5000 }).toBe(true);
}

/** Waits until the locator's rendered text contains the string or matches the pattern. */
async function expectText(locator: Locator, expected: string | RegExp): Promise<void> {
  const text = async () => (await locator.textContent({ timeout: 5000 })) ?? '';
  if (typeof expected === 'string') {
    await expect.poll(text, { timeout: 5000 }).toContain(expected);
  } else {
    await expect.poll(text, { timeout: 5000 }).toMatch(expected);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matches an element whose whole text is `text` (give or take surrounding white space). */
function exactText(text: string): RegExp {
  return new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`);
}

/**
 * The page is rendered on the server (build-docs prerenders it) and hydrated by the inlined bundle.
 * Until React has attached its handlers, a click on a menu link would follow the prerendered href
 * instead of Redoc's in-page route, so wait until the menu links carry React's props.
 */
async function waitForHydration(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const link = document.querySelector('.menu-content a');
      return link !== null && Object.keys(link).some((key) => key.startsWith('__reactProps$'));
    },
    undefined,
    { timeout: 15_000 },
  );
}

/** Navigates through the menu to an operation and returns its section (heading, panels and samples). */
async function openOperation(page: Page, op: OperationObject | undefined): Promise<Locator> {
  expect(op?.summary).toBeTruthy();
  const menu = page.locator('.menu-content');
  const tag = op?.tags?.[0] ?? '';
  const link = menu.getByText(op?.summary ?? '', { exact: true });
  if (!(await link.isVisible())) {
    await menu
      .locator('[data-component-name="Menu/MenuItem"].menu-item-type-group')
      .filter({ has: page.getByText(tag, { exact: true }) })
      .getByTestId('menu-item-label')
      .first()
      .click();
  }
  await link.click();
  // Redoc routes with the hash (#/api-keys/createapikey), which is also the section's id.
  await expect.poll(() => new URL(page.url()).hash.toLowerCase()).toContain(`/${op?.operationId?.toLowerCase()}`);
  const id = decodeURIComponent(new URL(page.url()).hash.replace(/^#\//, ''));
  const section = page.locator(`[id="${id}"]`);
  await expectVisible(section.getByRole('heading', { name: op?.summary ?? '' }).first());
  return section;
}

/**
 * Picks a request-sample language ("curl", "TypeScript client", "Payload") in an operation's request
 * panel. The language menu is the panel header's dropdown that shows the current language (the other
 * one shows the method and path, and the example picker is labelled "Example").
 */
async function chooseSample(page: Page, requestPanel: Locator, label: string): Promise<void> {
  const current = requestPanel
    .locator('button[aria-haspopup="menu"]:not([aria-label])')
    .filter({ hasNotText: /^\s*(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|TRACE)\b/ })
    .first();
  if ((await current.textContent())?.trim() === label) {
    return;
  }
  await current.click();
  await expectVisible(page.getByRole('menuitem').first());
  const offered = await page.getByRole('menuitem').allInnerTexts();
  const item = page.getByRole('menuitem', { name: label, exact: true });
  if (!(await item.isVisible())) {
    await page.keyboard.press('Escape');
    throw new Error(`The request panel offers ${JSON.stringify(offered.map((text) => text.trim()))}, not "${label}"`);
  }
  await item.click();
  await expectText(current, label);
}
