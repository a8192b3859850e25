/**
 * `node dist/bench/dashboard-screenshots.js [out-dir]` (after `npm run build`): the README's
 * pictures of the dashboard, from a real run. A runtime on Docker with a manifest-owned
 * function, a scheduled one and `checkout` under traffic that rises, bursts (panic) and
 * settles; then headless Chromium signs in and saves the overview and checkout's page as
 * `dashboard-overview.png` and `dashboard-function.png` (default folder: docs/).
 */
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, signIn, watchErrors } from './chromium.js';
import { freePort, waitForInstance, zipOf } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'api', 'cli.js');
const OUT = resolve(process.argv[2] ?? join(HERE, '..', '..', 'docs'));
const log = (m: string) => process.stderr.write(`screenshots: ${m}\n`);

const CHECKOUT = `exports.handler = async (req) => {
  const order = Math.random().toString(36).slice(2, 10);
  const ms = 20 + Math.floor(Math.random() * 60);
  await new Promise((r) => setTimeout(r, ms));
  if (Math.random() < 0.02) { console.error('payment provider timed out for order', order); throw new Error('payment declined'); }
  console.log('order', order, 'charged in', ms, 'ms');
  return { statusCode: 200, body: { order } };
};
`;
const THUMBS = `exports.handler = async () => { await new Promise((r) => setTimeout(r, 5)); console.log('resized 3 images'); return { ok: true }; };\n`;
const REPORT = `exports.handler = async (req) => { console.log('report for', req.headers['x-glambdar-schedule']); return { sent: true }; };\n`;
const HELLO = `exports.handler = async () => ({ message: 'hello from a manifest' });\n`;

/** Sends `rate(t)` requests a second (open loop) for `seconds`; t is seconds since the phase began. */
async function traffic(url: string, name: string, seconds: number, rate: (t: number) => number): Promise<void> {
  const start = Date.now();
  const pending: Array<Promise<unknown>> = [];
  let sent = 0;
  while (Date.now() - start < seconds * 1000) {
    const t = (Date.now() - start) / 1000;
    const target = integrate(rate, t);
    while (sent < target) {
      sent += 1;
      pending.push(fetch(`${url}/invoke/${name}`, { method: 'POST', body: '{}' }).then((r) => r.arrayBuffer()).catch(() => undefined));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(pending);
}

/** Requests due by time t at rate(t): the integral, in 50 ms steps. */
function integrate(rate: (t: number) => number, t: number): number {
  let n = 0;
  for (let s = 0; s < t; s += 0.05) n += rate(s) * Math.min(0.05, t - s);
  return Math.floor(n);
}

async function main(): Promise<void> {
  const dir = await mkdtemp('/tmp/glb-shots-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await mkdir(join(dir, 'manifests', 'hello'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'manifests', 'hello', 'index.js'), HELLO);
  await writeFile(join(dir, 'manifests', 'hello.yaml'), 'apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: hello\nspec:\n  code: ./hello\n  minWarm: 1\n');
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_HOST: '127.0.0.1', GLAMBDAR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let instance = '';
  try {
    instance = await waitForInstance(port);
    const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
    const deploy = async (name: string, code: string, fields: Record<string, string>) => {
      const form = new FormData();
      form.set('file', new Blob([new Uint8Array(await zipOf({ 'index.js': code }))]), `${name}.zip`);
      for (const [k, v] of Object.entries(fields)) form.set(k, v);
      const res = await fetch(`${url}/deploy`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 201) throw new Error(`deploy ${name}: ${res.status} ${await res.text()}`);
    };
    await deploy('checkout', CHECKOUT, { maxConcurrency: '4', maxReplicas: '8', scaleDownDelayMs: '20000' });
    await deploy('thumbnails', THUMBS, { maxConcurrency: '10' });
    await deploy('nightly-report', REPORT, { schedule: '*/20 * * * * *' });
    log('traffic: steady, a ramp, a burst, then calm (about two minutes); pictures during the calm');
    const thumbnails = traffic(url, 'thumbnails', 140, () => 8);
    await traffic(url, 'checkout', 20, () => 5);
    await traffic(url, 'checkout', 30, (t) => 5 + (t / 30) * 55);
    await traffic(url, 'checkout', 20, () => 60);
    await traffic(url, 'checkout', 8, () => 250);
    const calm = traffic(url, 'checkout', 60, () => 12);
    await new Promise((r) => setTimeout(r, 25_000));
    const chromium = await launchChromium();
    try {
      const page = await chromium.browser.newPage();
      const errors = watchErrors(page);
      await signIn(page, url, token);
      await page.waitForSelector('a.fn-link');
      await new Promise((r) => setTimeout(r, 3000));
      await mkdir(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, 'dashboard-overview.png') });
      await page.evaluate("location.hash = '#/functions/checkout'");
      await page.waitForSelector('#chart-traffic[data-points]:not([data-points="0"])');
      await page.waitForSelector('#log-list .log-entry');
      await new Promise((r) => setTimeout(r, 3000));
      await page.screenshot({ path: join(OUT, 'dashboard-function.png'), clip: { x: 0, y: 0, width: 1280, height: 1240 } });
      if (errors.all.length > 0) throw new Error(`the page logged errors: ${errors.all.join('; ')}`);
      log(`saved in ${OUT}`);
    } finally {
      await chromium.close();
    }
    await Promise.all([calm, thumbnails]);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const docker = new Docker();
    const containers = await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${instance}`] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
