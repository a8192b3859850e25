import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Page } from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import { chromiumPresent, CHROMIUM, launchChromium, watchErrors } from '../../bench/chromium.js';
import { control, deploy, eventually, info, integrationEnabled, invoke, makeZip, useRuntimes } from './harness.js';

/** Where the screenshots go (gitignored); printed by the test. */
const ARTIFACTS = resolve(import.meta.dirname, '..', '..', 'test-artifacts', 'dashboard');

/** Prints what it was asked, and takes a while when asked to (so that concurrency builds up). */
const HANDLER = `exports.handler = async (req) => {
  const data = await req.json().catch(() => ({}));
  if (data.sleep) await new Promise((r) => setTimeout(r, data.sleep));
  console.log('dashboard-test says', data.marker ?? 'hello');
  return { statusCode: 200, body: { ok: true } };
};
`;

/** A data attribute of an element, as a number (NaN when absent or empty). */
async function dataNumber(page: Page, selector: string, attribute: string): Promise<number> {
  return page.$eval(selector, (el, a) => Number(el.getAttribute(a) || NaN), attribute);
}

/** Sends `loops` callers, each calling in a loop for `ms`. */
async function load(url: string, name: string, loops: number, ms: number, sleep: number): Promise<number> {
  const end = Date.now() + ms;
  let sent = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (Date.now() < end) {
        const res = await invoke(url, name, { sleep });
        await res.arrayBuffer();
        sent += 1;
      }
    }),
  );
  return sent;
}

describe.runIf(integrationEnabled)('the dashboard in a real headless Chromium', () => {
  const start = useRuntimes();

  it('signs in (a wrong token says so), lists the functions, charts traffic and replicas live, follows logs, and logs no error', { timeout: 240_000 }, async () => {
    // Run when asked to: a missing browser is a failure, not a skip.
    expect(chromiumPresent, `no browser at ${CHROMIUM}: install Debian's chromium (.ci/run does)`).toBe(true);
    await mkdir(ARTIFACTS, { recursive: true });
    const rt = await start();
    const zip = await makeZip({ 'index.js': HANDLER });
    expect((await deploy(rt.url, 'busy.zip', zip, { maxConcurrency: '1', maxReplicas: '4', scaleDownDelayMs: '5000' })).status).toBe(201);
    expect((await deploy(rt.url, 'quiet.zip', zip)).status).toBe(201);
    expect((await invoke(rt.url, 'busy')).status).toBe(200);
    await eventually(async () => ((await info(rt, 'busy')).status.phase === 'Ready' ? true : undefined), 30_000, 'busy Ready');

    const chromium = await launchChromium();
    try {
      const page = await chromium.browser.newPage();
      const errors = watchErrors(page);
      await page.goto(`${rt.url}/ui`, { waitUntil: 'load' });

      // A wrong token: refused, and the page says so.
      await page.waitForSelector('#token');
      await page.type('#token', 'not-the-admin-token');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#signin-error')?.textContent?.includes('Wrong token'), { timeout: 10_000 });
      // The browser logs the refused request itself ("Failed to load resource: ... 401"): that one
      // entry is what a wrong token must cause (and shows the watch is live); anything else is an
      // error of the page.
      await eventually(async () => (errors.all.length > 0 ? true : undefined), 5_000, 'the 401 in the console');
      expect(errors.all).toEqual([expect.stringMatching(/status of 401 .*\/stats\?seconds=1\)$/)]);
      errors.all.length = 0;
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

      // The right one: kept for the tab, the overview lists every function.
      await page.$eval('#token', (el) => ((el as HTMLInputElement).value = ''));
      await page.type('#token', rt.token);
      await page.click('button[type=submit]');
      await page.waitForSelector('a.fn-link', { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelectorAll('a.fn-link').length === 2, { timeout: 10_000 });
      const names = await page.$$eval('a.fn-link', (links) => links.map((a) => a.textContent));
      expect(names).toEqual(['busy', 'quiet']);
      // A status colour is never alone: the badge carries the word.
      await page.waitForFunction(() => [...document.querySelectorAll('.badge')].some((b) => b.textContent === 'Ready'), { timeout: 15_000 });
      await page.waitForFunction(() => Number(document.querySelector('#chart-runtime-cpu')?.getAttribute('data-points')) > 0, { timeout: 10_000 });
      // Keyboard: tabbing from the top reaches a function's link.
      let reached = false;
      for (let i = 0; i < 20 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.textContent === 'busy');
      }
      expect(reached).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'overview.png') });

      // The function's page, opened from the keyboard.
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => Number(document.querySelector('#chart-traffic')?.getAttribute('data-points')) > 0, { timeout: 10_000 });
      const replicasBefore = await dataNumber(page, '#chart-replicas', 'data-max-desired-replicas');
      const requestsBefore = await dataNumber(page, '#chart-traffic', 'data-max-requests');

      // Traffic: six callers on a function that takes one request per container.
      const sent = await load(rt.url, 'busy', 6, 8_000, 250);
      expect(sent).toBeGreaterThan(20);
      await page.waitForFunction(
        (before) => Number(document.querySelector('#chart-traffic')?.getAttribute('data-max-requests')) > Math.max(1, before),
        { timeout: 15_000 },
        Number.isNaN(requestsBefore) ? 0 : requestsBefore,
      );
      await page.waitForFunction(
        () => Number(document.querySelector('#chart-replicas')?.getAttribute('data-max-desired-replicas')) >= 2 && Number(document.querySelector('#chart-replicas')?.getAttribute('data-max-ready-replicas')) >= 2,
        { timeout: 20_000 },
      );
      expect(await dataNumber(page, '#chart-replicas', 'data-max-desired-replicas')).toBeGreaterThan(Number.isNaN(replicasBefore) ? 1 : replicasBefore);
      expect(await dataNumber(page, '#chart-latency', 'data-max-p99-ms')).toBeGreaterThan(200);
      expect(await dataNumber(page, '#chart-responses', 'data-max-s2xx')).toBeGreaterThan(0);

      // The function's standby (created ahead of its next start) is listed with its containers.
      await page.waitForFunction(
        () => document.querySelector('section[aria-labelledby="containers-title"]')?.textContent?.includes('standby (created, not started)'),
        { timeout: 10_000 },
      );

      // A new invocation's stdout appears in the logs panel, and its request id finds it.
      const marker = `marker-${Date.now()}`;
      const res = await invoke(rt.url, 'busy', { marker });
      expect(res.status).toBe(200);
      const requestId = res.headers.get('x-glambdar-request-id')!;
      await page.waitForFunction((m) => document.querySelector('#log-list')?.textContent?.includes(`dashboard-test says ${m}`), { timeout: 15_000 }, marker);
      await page.type('#log-search', requestId.slice(0, 13));
      await page.waitForFunction(
        (id) => {
          const entries = [...document.querySelectorAll('#log-list .log-entry')];
          return entries.length === 1 && entries[0]!.getAttribute('data-request-id') === id;
        },
        { timeout: 5_000 },
        requestId,
      );
      await page.click('#log-search', { count: 3 });
      await page.keyboard.press('Backspace');
      await page.waitForFunction(() => document.querySelectorAll('#log-list .log-entry').length > 1, { timeout: 5_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'function.png'), fullPage: true });

      // A phone's width: nothing wider than the screen but the tables' own scrolling areas.
      await page.setViewport({ width: 390, height: 844 });
      await page.waitForFunction(() => document.documentElement.scrollWidth <= 392, { timeout: 5_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'function-phone.png') });

      // The data routes stay behind the token: the page's own fetches carried it.
      expect((await control({ url: rt.url }, '/stats/busy?seconds=5')).status).toBe(200);
      expect((await fetch(`${rt.url}/stats/busy?seconds=5`)).status).toBe(401);
      expect(errors.all).toEqual([]);
      console.log(`dashboard screenshots in ${ARTIFACTS}`);
    } finally {
      await chromium.close();
    }
  });
});
