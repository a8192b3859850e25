import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';

/** Debian's chromium (`.ci/run` installs it); puppeteer-core never downloads a browser. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** True when the browser is there to drive. */
export const chromiumPresent = existsSync(CHROMIUM);

/** Flags that work in this sandbox: headless, no GPU, no network of its own beyond the page's, a fresh profile. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * A headless Chromium on a fresh profile folder, removed by `close`: the dashboard's browser
 * test (test/integration/dashboard.test.ts) and its bench (bench/dashboard.ts) drive it.
 */
export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'glb-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, `--user-data-dir=${profile}`],
    defaultViewport: { width: 1280, height: 800 },
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in on the dashboard at `url` (the runtime's address) with `token` and waits for the overview. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/ui`, { waitUntil: 'load' });
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#functions-title');
}

/** What a page logged as an error: script errors, console.error calls and the browser's own error entries (failed loads). */
export interface PageErrors {
  all: string[];
}

/** Collects every error the page logs from now on. */
export function watchErrors(page: Page): PageErrors {
  const errors: PageErrors = { all: [] };
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.all.push(`console: ${msg.text()} (${msg.location().url ?? ''})`);
  });
  page.on('pageerror', (err) => errors.all.push(`page error: ${String(err)}`));
  return errors;
}
