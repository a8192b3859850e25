/**
 * `npm run bench:dashboard`: synchronous throughput with the dashboard open in a headless
 * Chromium (signed in, charts and logs refreshing every second) against the same runtime with
 * no dashboard, in alternating rounds (the machine is shared and its speed drifts, so each
 * round with the dashboard is compared with the quiet round next to it).
 *
 * Each round: 32 connections of `POST /invoke/ping` (the function and load of `npm run bench`'s
 * throughput figure) for BENCH_SECONDS (default 10), BENCH_ROUNDS
 * pairs (default 3). The page is the function's own (BENCH_DASHBOARD_PAGE=function, the
 * heaviest: five charts, its info, and its logs following the very requests of the load) or
 * the overview (BENCH_DASHBOARD_PAGE=overview). Besides requests per second it records the
 * runtime process's CPU time per 1000 requests (from /proc), which shows the dashboard's cost
 * to the runtime apart from the browser's own CPU. Writes bench/results/dashboard.json.
 */
import autocannon from 'autocannon';
import Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, signIn, watchErrors } from './chromium.js';
import { freePort, waitForInstance, zipOf } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'api', 'cli.js');
const RESULTS = join(HERE, '..', '..', 'bench', 'results', 'dashboard.json');
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const PAGE = process.env['BENCH_DASHBOARD_PAGE'] === 'overview' ? 'overview' : 'function';
const log = (m: string) => process.stderr.write(`bench:dashboard: ${m}\n`);

/** The fields of /proc/<pid>/stat after the command: state is [0], pgrp [2], utime [11], stime [12]. */
function statFields(pid: number | string): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return null; // gone meanwhile
  }
}

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = statFields(pid)!;
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of every live process in a process group (the browser and its renderers, GPU and utility processes). */
function groupCpuSeconds(pgrp: number): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fields = statFields(pid);
    if (fields && Number(fields[2]) === pgrp) total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
}

function load(url: string, seconds: number): Promise<{ rps: number; total: number; p99: number; errors: number }> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${url}/invoke/ping`, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, connections: 32, duration: seconds },
      (err, result) =>
        err ? reject(err) : resolve({ rps: result.requests.average, total: result.requests.total, p99: result.latency.p99, errors: result.errors + result.non2xx }),
    );
  });
}

/** A load round, with the runtime's CPU time per 1000 requests and the browser's share of a core. */
async function round(url: string, pid: number, browserGroup: number): Promise<{ rps: number; p99: number; errors: number; cpuMsPer1000: number; browserCorePercent: number }> {
  const cpu0 = cpuSeconds(pid);
  const browser0 = groupCpuSeconds(browserGroup);
  const t0 = performance.now();
  const r = await load(url, SECONDS);
  const cpuMs = (cpuSeconds(pid) - cpu0) * 1000;
  const browserPercent = ((groupCpuSeconds(browserGroup) - browser0) * 1000 * 100) / (performance.now() - t0);
  return {
    rps: Math.round(r.rps),
    p99: r.p99,
    errors: r.errors,
    cpuMsPer1000: Math.round((cpuMs / Math.max(1, r.total)) * 1000 * 10) / 10,
    browserCorePercent: Math.round(browserPercent * 10) / 10,
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp('/tmp/glb-dash-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_HOST: '127.0.0.1', GLAMBDAR_LOG_LEVEL: 'warn', GLAMBDAR_STEM_CELLS: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let instance = '';
  const chromium = await launchChromium();
  // puppeteer starts the browser as the leader of its own process group.
  const browserGroup = chromium.browser.process()!.pid!;
  try {
    instance = await waitForInstance(port);
    const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await zipOf({ 'index.js': PING }))]), 'ping.zip');
    form.set('maxConcurrency', '64');
    const deployed = await fetch(`${url}/deploy`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
    if (deployed.status !== 201) throw new Error(`deploy: ${deployed.status} ${await deployed.text()}`);
    await fetch(`${url}/invoke/ping`, { method: 'POST', body: '{}' });
    log('warming up');
    await load(url, 3);
    const rounds: Array<{
      quietRps: number;
      dashboardRps: number;
      quietP99: number;
      dashboardP99: number;
      quietCpuMsPer1000: number;
      dashboardCpuMsPer1000: number;
      browserCorePercent: number;
      errors: number;
    }> = [];
    const pageErrors: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}: quiet`);
      const quiet = await round(url, child.pid!, browserGroup);
      log(`round ${r + 1}: with the dashboard's ${PAGE} page open`);
      const page = await chromium.browser.newPage();
      const errors = watchErrors(page);
      await signIn(page, url, token);
      if (PAGE === 'function') {
        await page.evaluate("location.hash = '#/functions/ping'");
        await page.waitForSelector('#chart-traffic[data-points]:not([data-points="0"])');
      }
      const open = await round(url, child.pid!, browserGroup);
      // The page was refreshing all along: its charts kept up with the load.
      const points = await page.$eval(PAGE === 'function' ? '#chart-traffic' : '#chart-runtime-cpu', (el) => Number(el.getAttribute('data-points')));
      await page.close();
      pageErrors.push(...errors.all);
      rounds.push({
        quietRps: quiet.rps,
        dashboardRps: open.rps,
        quietP99: quiet.p99,
        dashboardP99: open.p99,
        quietCpuMsPer1000: quiet.cpuMsPer1000,
        dashboardCpuMsPer1000: open.cpuMsPer1000,
        browserCorePercent: open.browserCorePercent,
        errors: quiet.errors + open.errors,
      });
      log(`round ${r + 1}: quiet ${quiet.rps} req/s (${quiet.cpuMsPer1000} ms CPU/1000), dashboard ${open.rps} req/s (${open.cpuMsPer1000} ms CPU/1000, browser ${open.browserCorePercent} % of a core); chart at ${points} points`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const results = {
      page: PAGE,
      seconds: SECONDS,
      rounds,
      medianRatio: Math.round(median(rounds.map((x) => x.dashboardRps / x.quietRps)) * 1000) / 1000,
      medianCpuRatio: Math.round(median(rounds.map((x) => x.dashboardCpuMsPer1000 / x.quietCpuMsPer1000)) * 1000) / 1000,
      medianBrowserCorePercent: median(rounds.map((x) => x.browserCorePercent)),
      pageErrors,
    };
    await mkdir(dirname(RESULTS), { recursive: true });
    await writeFile(RESULTS, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    await chromium.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const docker = new Docker();
    const containers = await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${instance}`] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
