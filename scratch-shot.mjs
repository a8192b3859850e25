import puppeteer from 'puppeteer-core';
import { mkdtempSync, readFileSync } from 'node:fs';
const url = process.argv[2]; const out = process.argv[3] ?? '/tmp/shot'; const width = Number(process.argv[4] ?? 1280);
const token = readFileSync('/tmp/gdash/admin-token', 'utf8').trim();
const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless','--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync', `--user-data-dir=${mkdtempSync('/tmp/chr-')}`], defaultViewport: { width, height: 800 } });
const page = await browser.newPage();
page.on('console', (m) => console.log('console', m.type(), m.text(), m.location()?.url));
page.on('pageerror', (e) => console.log('pageerror', e));
await page.goto(url.replace(/#.*/, ''), { waitUntil: 'load' });
await page.waitForSelector('#token');
await page.type('#token', token);
await page.click('button[type=submit]');
await page.waitForSelector('.fn-link, .empty');
if (url.includes('#')) { await page.evaluate((h) => (location.hash = h), url.slice(url.indexOf('#'))); }
await new Promise((r) => setTimeout(r, 4000));
await page.screenshot({ path: `${out}.png`, fullPage: true });
await browser.close();
