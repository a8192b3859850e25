/**
 * `npm run bench:async`: synchronous throughput while a backlog of async jobs drains, against
 * the same runtime with no backlog, in alternating rounds (the machine is shared and its speed
 * drifts, so each backlog round is compared with the quiet round next to it).
 *
 * Each round: 32 connections of `POST /invoke/ping` for BENCH_SECONDS (default 10). Before a
 * backlog round, BENCH_JOBS (default 10,000) async jobs are queued for `work` (another function
 * with the same handler; BENCH_ASYNC_SAME=1 queues them for `ping` itself) and the round starts
 * while they drain. Between rounds the backlog drains fully. Writes bench/results/async.json.
 */
import autocannon from 'autocannon';
import Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForInstance, zipOf } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'api', 'cli.js');
const RESULTS = join(HERE, '..', '..', 'bench', 'results', 'async.json');
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const JOBS = Number(process.env['BENCH_JOBS'] ?? 10_000);
const TARGET = process.env['BENCH_ASYNC_SAME'] === '1' ? 'ping' : 'work';
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const log = (m: string) => process.stderr.write(`bench:async: ${m}\n`);
/** The admin token the runtime wrote into its data folder, for the control routes. */
let auth: Record<string, string> = {};

function call(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function deploy(port: number, name: string, zip: Buffer, fields: Record<string, string>): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(zip)]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`http://127.0.0.1:${port}/deploy`, { method: 'POST', body: form, headers: auth });
  if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${await res.text()}`);
}

/** Queued plus running jobs of the target, from /metrics. */
async function backlog(port: number): Promise<number> {
  const text = (await call(port, 'GET', '/metrics', undefined, auth)).body;
  const pick = (family: string) => Number(new RegExp(`${family}\\{function="${TARGET}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return pick('glambdar_async_queue_depth') + pick('glambdar_async_running_jobs');
}

async function enqueue(port: number, count: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        next += 1;
        const res = await call(port, 'POST', `/async/${TARGET}`, '{}', { 'content-type': 'application/json' });
        if (res.status !== 202) throw new Error(`async: ${res.status} ${res.body}`);
      }
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

function load(port: number, seconds: number): Promise<{ rps: number; p99: number; errors: number }> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}/invoke/ping`, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, connections: 32, duration: seconds },
      (err, result) => (err ? reject(err) : resolve({ rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx })),
    );
  });
}

async function waitDrained(port: number): Promise<void> {
  while ((await backlog(port)) > 0) await new Promise((r) => setTimeout(r, 200));
}

async function main(): Promise<void> {
  const dir = await mkdtemp('/tmp/glb-async-');
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_LOG_LEVEL: 'warn', GLAMBDAR_STEM_CELLS: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let instance = '';
  try {
    instance = await waitForInstance(port);
    auth = { authorization: `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}` };
    const zip = await zipOf({ 'index.js': PING });
    await deploy(port, 'ping', zip, { maxConcurrency: '64' });
    if (TARGET === 'work') await deploy(port, 'work', zip, { maxConcurrency: '64' });
    await call(port, 'POST', `/invoke/ping`, '{}');
    await call(port, 'POST', `/invoke/${TARGET}`, '{}');
    log('warming up');
    await load(port, 3);
    const rounds: Array<{ quietRps: number; backlogRps: number; quietP99: number; backlogP99: number; errors: number; enqueuePerSec: number; drainedInRound: number }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}: quiet`);
      const quiet = await load(port, SECONDS);
      log(`round ${r + 1}: queueing ${JOBS} jobs for ${TARGET}`);
      const enqueuePerSec = await enqueue(port, JOBS);
      const before = await backlog(port);
      log(`round ${r + 1}: with a backlog of ${before}`);
      const busy = await load(port, SECONDS);
      const after = await backlog(port);
      rounds.push({
        quietRps: Math.round(quiet.rps),
        backlogRps: Math.round(busy.rps),
        quietP99: quiet.p99,
        backlogP99: busy.p99,
        errors: quiet.errors + busy.errors,
        enqueuePerSec: Math.round(enqueuePerSec),
        drainedInRound: before - after,
      });
      log(`round ${r + 1}: quiet ${Math.round(quiet.rps)} req/s, with backlog ${Math.round(busy.rps)} req/s; ${before - after} jobs drained during it`);
      await waitDrained(port);
    }
    const ratios = rounds.map((x) => x.backlogRps / x.quietRps).sort((a, b) => a - b);
    const results = { target: TARGET, jobs: JOBS, seconds: SECONDS, rounds, medianRatio: Math.round(ratios[Math.floor(ratios.length / 2)]! * 1000) / 1000 };
    await mkdir(dirname(RESULTS), { recursive: true });
    await writeFile(RESULTS, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const docker = new Docker();
    const containers = await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${instance}`] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
    agent.destroy();
  }
}

await main();
