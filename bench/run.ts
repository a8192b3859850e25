/**
 * `npm run bench`: Glambdar's figures on this machine, each beside a baseline measured in the
 * same run (the machine is shared and noisy, so ratios mean more than absolute numbers).
 *
 * The runtime runs as a child process on a temp data folder and a free port, so the load
 * generator (autocannon, in this process) does not share its event loop.
 */
import Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bareDockerStarts } from './engine-floor.js';
import { load } from './load.js';
import { childPids } from './proc-cpu.js';
import { baselineServer, hopFloorServer } from './reference-servers.js';
import { freePort, percentile, round, sequential, waitFor, zipOf } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'api', 'cli.js');
const RESULTS = join(HERE, '..', '..', 'bench', 'results', 'latest.json');
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;
const PING_JSON = JSON.stringify({ message: 'pong' });
const COLD_SAMPLES = Number(process.env['BENCH_COLD_SAMPLES'] ?? 10);
const LOAD_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 6);
const LOAD_ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const SEQ_ROUNDS = Number(process.env['BENCH_SEQ_ROUNDS'] ?? 12);

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

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

/** The admin token of the runtime on `port`, read from its data folder as the CLI reads it. */
const tokens = new Map<number, string>();
const auth = (port: number): Record<string, string> => ({ authorization: `Bearer ${tokens.get(port) ?? ''}` });

async function deploy(port: number, name: string, zip: Buffer, fields: Record<string, string> = {}): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(zip)]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`http://127.0.0.1:${port}/deploy`, { method: 'POST', body: form, headers: auth(port) });
  if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${await res.text()}`);
}

interface Runtime {
  port: number;
  child: ChildProcess;
  dir: string;
  instance: string;
}

async function startRuntime(env: Record<string, string>): Promise<Runtime> {
  const dir = await mkdtemp('/tmp/glb-');
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      const res = await call(port, 'GET', '/healthz');
      if (res.status === 200) {
        tokens.set(port, readFileSync(join(dir, 'admin-token'), 'utf8').trim());
        return { port, child, dir, instance: (JSON.parse(res.body) as { instance: string }).instance };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('runtime did not start');
}

async function stopRuntime(rt: Runtime, docker: Docker): Promise<void> {
  rt.child.kill('SIGTERM');
  await new Promise((r) => rt.child.once('exit', r));
  const containers = await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${rt.instance}`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await rm(rt.dir, { recursive: true, force: true });
}

/** What a cold-start sample does around its deploy and first invoke, with the sample's function name. */
interface ColdStartHooks {
  before?: () => Promise<void>;
  /** Between the deploy and the invoke (the function left to come to rest). */
  atRest?: (name: string) => Promise<void>;
  after?: (name: string) => Promise<void>;
}

/** Deploy -> first invoke with no warm container, `samples` times (a new function each time). */
async function coldStarts(rt: Runtime, prefix: string, samples: number, hooks: ColdStartHooks): Promise<number[]> {
  const zip = await zipOf({ 'index.js': PING });
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    await hooks.before?.();
    const name = `${prefix}-${i}`;
    await deploy(rt.port, name, zip);
    await hooks.atRest?.(name);
    const t0 = performance.now();
    const res = await call(rt.port, 'POST', `/invoke/${name}`, '{}', { 'content-type': 'application/json' });
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`cold invoke ${name}: ${res.status} ${res.body}`);
    await hooks.after?.(name);
  }
  return times;
}

/** Host pids of a function's containers (their node processes: the worker is the container's first process). */
async function containerPids(docker: Docker, port: number, fn: string): Promise<number[]> {
  const info = JSON.parse((await call(port, 'GET', `/info/${fn}`, undefined, auth(port))).body) as { status: { containers: Array<{ id: string | null }> } };
  const pids: number[] = [];
  for (const c of info.status.containers) {
    if (!c.id) continue;
    const inspected = await docker.getContainer(c.id).inspect();
    if (inspected.State.Pid > 0) pids.push(inspected.State.Pid);
  }
  return pids;
}

async function containerRssMb(docker: Docker, port: number, fn: string): Promise<number> {
  // A container specialised from a stem cell has no function label: ask /info for its id.
  const info = JSON.parse((await call(port, 'GET', `/info/${fn}`, undefined, auth(port))).body) as { status: { containers: Array<{ id: string }> } };
  const id = info.status.containers[0]?.id;
  if (!id) return NaN;
  const stats = (await docker.getContainer(id).stats({ stream: false })) as { memory_stats: { stats?: Record<string, number>; usage?: number } };
  const s = stats.memory_stats.stats ?? {};
  const bytes = s['rss'] ?? s['anon'] ?? stats.memory_stats.usage ?? NaN;
  return bytes / 1024 / 1024;
}

function processRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function main(): Promise<void> {
  const docker = new Docker();
  const table: Array<[string, string, string]> = [];
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

  // 1. Cold start without stem cells, of a function at rest (its standby container created, as
  // after any deploy or scale to zero), and of one invoked right after its deploy.
  log('cold starts without stem cells');
  let rt = await startRuntime({ GLAMBDAR_STEM_CELLS: '0' });
  // The engine floor's samples alternate with the runtime's (a second, a floor sample, a
  // second, a cold start, its function deleted), so both see the engine in the same state;
  // back to back after the runtime stopped, the floor read 80 ms against 95-105 alternating.
  // The seconds let each sample's background work (CPU settle, reconcile) finish before the next.
  const runtimeImage = async (): Promise<string | undefined> =>
    (await docker.listImages({ filters: { reference: ['glambdar-node', 'node:20-slim'] } }))[0]?.RepoTags?.[0];
  const bareDocker: number[] = [];
  const pause = () => new Promise<void>((r) => setTimeout(r, 1000));
  const remove = async (name: string) => void (await call(rt.port, 'DELETE', `/del/${name}`, undefined, auth(rt.port)));
  const standbyMade = async (name: string) =>
    (await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${rt.instance}`, `glambdar.function=${name}`], status: ['created'] } })).length === 1;
  const cold = await coldStarts(rt, 'cold', COLD_SAMPLES, {
    atRest: async (name) => {
      await waitFor(() => standbyMade(name));
      await pause();
      bareDocker.push(...(await bareDockerStarts(docker, (await runtimeImage())!, 1)));
      await pause();
    },
    after: remove,
  });
  const fresh = await coldStarts(rt, 'fresh', COLD_SAMPLES, { before: pause, after: remove });
  await stopRuntime(rt, docker);

  // 2. Cold start through a stem cell, then warm figures on the same runtime.
  log('cold starts through stem cells');
  rt = await startRuntime({});
  const stemReady = async () => {
    const text = (await call(rt.port, 'GET', '/metrics', undefined, auth(rt.port))).body;
    const ready = Number(/glambdar_stem_cells_ready(?:\{[^}]*\})? (\d+)/.exec(text)?.[1] ?? 0);
    return ready >= 2;
  };
  // The stem-born container of each sample is replaced in the background by a labelled one,
  // and its cell by a new one (engine starts); the next sample waits for both (2 cells, the
  // default), so each measures a cold start on a quiet machine, not the previous one's refill.
  let previous: string | null = null;
  const settled = async () => {
    if (previous === null) return true;
    const info = JSON.parse((await call(rt.port, 'GET', `/info/${previous}`, undefined, auth(rt.port))).body) as { status: { containers: Array<{ fromStemCell: boolean; state: string }> } };
    return info.status.containers.length > 0 && info.status.containers.every((c) => !c.fromStemCell && c.state === 'ready');
  };
  let sample = 0;
  const stem = await coldStarts(rt, 'stem', COLD_SAMPLES, {
    before: async () => {
      await waitFor(async () => (await stemReady()) && (await settled()), 60_000);
      previous = `stem-${sample++}`;
    },
  });

  log('warm latency and throughput');
  await deploy(rt.port, 'ping', await zipOf({ 'index.js': PING }), { maxConcurrency: '64' });
  await call(rt.port, 'POST', '/invoke/ping', '{}');
  // The same function, private: each request carries a key the runtime checks (README "Private functions").
  await deploy(rt.port, 'ping-key', await zipOf({ 'index.js': PING }), { maxConcurrency: '64', auth: 'key' });
  const keyMade = await call(rt.port, 'POST', '/keys/ping-key', undefined, auth(rt.port));
  const keyHeader = { authorization: `Bearer ${(JSON.parse(keyMade.body) as { key: string }).key}` };
  const privateCall = await call(rt.port, 'POST', '/invoke/ping-key', '{}', keyHeader);
  if (privateCall.status !== 200) throw new Error(`private invoke: ${privateCall.status} ${privateCall.body}`);
  // Quiet the machine before warm figures: no cold-start containers, no stem refill running.
  for (let i = 0; i < COLD_SAMPLES; i++) await call(rt.port, 'DELETE', `/del/stem-${i}`, undefined, auth(rt.port));
  await waitFor(async () => {
    const text = (await call(rt.port, 'GET', '/metrics', undefined, auth(rt.port))).body;
    return Number(/glambdar_stem_cells_ready (\d+)/.exec(text)?.[1] ?? 0) >= 2;
  }, 60_000);
  await new Promise((r) => setTimeout(r, 1000));
  const base = await baselineServer(PING_JSON);
  const floor = await hopFloorServer();
  // V8 compiles a server's hot path to optimized code only after thousands of requests: measured
  // before that, Glambdar's sequential p50 here was 1.1-1.4 ms against 0.7-0.9 ms after. Every
  // server gets the same unreported burst first, so the figures are those of a server in service.
  log('warming up the three servers');
  for (const [port, path] of [[base.port, '/'], [floor.port, '/'], [rt.port, '/invoke/ping']] as const) await load(port, path, 3);
  await load(rt.port, '/invoke/ping-key', 3, keyHeader);

  log('throughput, alternating with a bare node:http baseline and the hop floor');
  // The machine is shared and its speed drifts by 2x within a minute: alternate the servers,
  // round after round, in an order reversed every other round (bare, floor, Glambdar, private,
  // then private, Glambdar, floor, bare), so a drift favours neither side of a ratio; a round's
  // ratios compare loads measured back to back, and the median of five shrugs off two bad rounds.
  type Load = Awaited<ReturnType<typeof load>>;
  const runs: Array<{ glambdar: Load; baseline: Load; floor: Load; private: Load }> = [];
  for (let round = 0; round < LOAD_ROUNDS; round++) {
    const pingWorkers = await containerPids(docker, rt.port, 'ping');
    const loads = [
      () => load(base.port, '/', LOAD_SECONDS, {}, { front: base.child.pid!, workers: [] }),
      () => load(floor.port, '/', LOAD_SECONDS, {}, { front: floor.child.pid!, workers: childPids(floor.child.pid!) }),
      () => load(rt.port, '/invoke/ping', LOAD_SECONDS, {}, { front: rt.child.pid!, workers: pingWorkers }),
      () => load(rt.port, '/invoke/ping-key', LOAD_SECONDS, keyHeader),
    ];
    const measured: Load[] = [];
    for (const i of round % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0]) measured[i] = await loads[i]!();
    const [baseline, floorLoad, glambdar, keyed] = measured as [Load, Load, Load, Load];
    runs.push({ glambdar, baseline, floor: floorLoad, private: keyed });
    log(
      `round ${round + 1}: req/s glambdar ${Math.round(glambdar.rps)}, hop floor ${Math.round(floorLoad.rps)}, bare ${Math.round(baseline.rps)}; ` +
        `p99 ms ${glambdar.p99}, ${floorLoad.p99}; front CPU us/request ${glambdar.cpu.frontUs.toFixed(1)} (main thread ${glambdar.cpu.frontMainUs.toFixed(1)}), ${floorLoad.cpu.frontUs.toFixed(1)} (${floorLoad.cpu.frontMainUs.toFixed(1)}), ${baseline.cpu.frontUs.toFixed(1)}; ` +
        `worker ${glambdar.cpu.workerUs.toFixed(1)}, ${floorLoad.cpu.workerUs.toFixed(1)}; glambdar containers ${pingWorkers.length} at the start, ${(await containerPids(docker, rt.port, 'ping')).length} at the end`,
    );
  }

  log('sequential latency, alternating the same three');
  // SEQ_ROUNDS rounds of 500, alternating as above (one round's p50 moves by 0.1-0.2 ms here),
  // after 2,000 unreported ones per server: the load's requests have other headers, and the
  // first of these sent the handler and node's http code back to baseline code (perf). Besides
  // the p50 of all rounds' requests, the gap to the hop floor is read as the throughput ratio
  // is: per round (Glambdar's p50 less the floor's, measured back to back), then the median of
  // the rounds, which a drift of the machine between rounds does not move.
  const [warm, baselineWarm, floorWarm] = [[], [], []] as number[][];
  const servers = [[warm, rt.port, '/invoke/ping'], [baselineWarm, base.port, '/'], [floorWarm, floor.port, '/']] as const;
  for (const [, port, path] of servers) await sequential(port, path, 0, 2000);
  const seqGaps: number[] = [];
  for (let round = 0; round < SEQ_ROUNDS; round++) {
    const p50s = new Map<number[], number>();
    for (const [into, port, path] of round % 2 === 0 ? servers : [...servers].reverse()) {
      const latencies = await sequential(port, path, 500, 100);
      p50s.set(into, percentile(latencies, 50));
      into.push(...latencies);
    }
    seqGaps.push(p50s.get(warm)! - p50s.get(floorWarm)!);
    log(`sequential round ${round + 1}: p50 glambdar ${p50s.get(warm)!.toFixed(3)}, hop floor ${p50s.get(floorWarm)!.toFixed(3)}, bare ${p50s.get(baselineWarm)!.toFixed(3)} ms`);
  }

  base.child.kill();
  floor.child.kill('SIGTERM');
  const median = (xs: number[]) => percentile(xs, 50);
  const glambdarLoad = {
    rps: median(runs.map((r) => r.glambdar.rps)),
    // The median of the rounds, as every other figure; the worst round beside it (one round in
    // which the machine stalls decides a maximum).
    p99: median(runs.map((r) => r.glambdar.p99)),
    p99Worst: Math.max(...runs.map((r) => r.glambdar.p99)),
    errors: runs.reduce((a, r) => a + r.glambdar.errors, 0),
  };
  const baselineLoad = { rps: median(runs.map((r) => r.baseline.rps)) };
  const floorLoad = { rps: median(runs.map((r) => r.floor.rps)), p99: median(runs.map((r) => r.floor.p99)) };
  const ratioToBaseline = median(runs.map((r) => r.glambdar.rps / r.baseline.rps));
  const ratioToFloor = median(runs.map((r) => r.glambdar.rps / r.floor.rps));
  // CPU per request, from /proc over each round: the medians of the rounds.
  const cpuOf = (pick: (r: (typeof runs)[number]) => number) => round(median(runs.map(pick)), 1);
  const cpu = {
    glambdarUs: cpuOf((r) => r.glambdar.cpu.frontUs),
    glambdarWorkerUs: cpuOf((r) => r.glambdar.cpu.workerUs),
    hopFloorUs: cpuOf((r) => r.floor.cpu.frontUs),
    hopFloorWorkerUs: cpuOf((r) => r.floor.cpu.workerUs),
    bareUs: cpuOf((r) => r.baseline.cpu.frontUs),
  };
  const privateLoad = { rps: median(runs.map((r) => r.private.rps)), errors: runs.reduce((a, r) => a + r.private.errors, 0) };
  const privateToPublic = median(runs.map((r) => r.private.rps / r.glambdar.rps));
  await new Promise((r) => setTimeout(r, 1500));
  const containerRss = await containerRssMb(docker, rt.port, 'ping');

  log('runtime memory with 100 functions');
  const zip = await zipOf({ 'index.js': PING });
  for (let i = 0; i < 100; i++) await deploy(rt.port, `many-${i}`, zip);
  await new Promise((r) => setTimeout(r, 1000));
  const runtimeRss = processRssMb(rt.child.pid!);
  await stopRuntime(rt, docker);

  const results = {
    machine: `${(await import('node:os')).cpus().length} cores, node ${process.version}`,
    coldStartP50Ms: round(percentile(cold, 50)),
    coldStartP95Ms: round(percentile(cold, 95)),
    afterDeployColdStartP50Ms: round(percentile(fresh, 50)),
    afterDeployColdStartP95Ms: round(percentile(fresh, 95)),
    bareDockerBootP50Ms: round(percentile(bareDocker, 50)),
    // Each cold start less the floor sample taken just before it, then the median: read as the
    // sequential gap is, so a drift of the machine between samples does not move it.
    coldStartGapToEngineFloorMs: round(percentile(cold.map((ms, i) => ms - bareDocker[i]!), 50)),
    stemColdStartP50Ms: round(percentile(stem, 50)),
    stemColdStartP95Ms: round(percentile(stem, 95)),
    warmP50Ms: round(percentile(warm, 50), 3),
    warmP99Ms: round(percentile(warm, 99), 3),
    baselineWarmP50Ms: round(percentile(baselineWarm, 50), 3),
    throughputRps: Math.round(glambdarLoad.rps),
    baselineRps: Math.round(baselineLoad.rps),
    throughputRatio: round(ratioToBaseline, 3),
    hopFloorRps: Math.round(floorLoad.rps),
    hopFloorWarmP50Ms: round(percentile(floorWarm, 50), 3),
    sequentialGapToHopFloorMs: round(percentile(seqGaps, 50), 3),
    sequentialGapRoundsMs: seqGaps.map((g) => round(g, 3)),
    throughputRatioToHopFloor: round(ratioToFloor, 3),
    cpuPerRequestUs: cpu,
    privateThroughputRps: Math.round(privateLoad.rps),
    privateErrors: privateLoad.errors,
    privateToPublicRatio: round(privateToPublic, 3),
    loadP99Ms: glambdarLoad.p99,
    loadP99WorstRoundMs: glambdarLoad.p99Worst,
    hopFloorLoadP99Ms: floorLoad.p99,
    loadErrors: glambdarLoad.errors,
    throughputRounds: runs.map((r) => ({
      glambdarRps: Math.round(r.glambdar.rps),
      baselineRps: Math.round(r.baseline.rps),
      hopFloorRps: Math.round(r.floor.rps),
      glambdarUs: round(r.glambdar.cpu.frontUs, 1),
      hopFloorUs: round(r.floor.cpu.frontUs, 1),
      bareUs: round(r.baseline.cpu.frontUs, 1),
      glambdarWorkerUs: round(r.glambdar.cpu.workerUs, 1),
      hopFloorWorkerUs: round(r.floor.cpu.workerUs, 1),
      privateRps: Math.round(r.private.rps),
      glambdarP99Ms: r.glambdar.p99,
      hopFloorP99Ms: r.floor.p99,
    })),
    containerRssMb: round(containerRss, 1),
    runtimeRssMb: round(runtimeRss, 1),
  };
  table.push(
    ['cold start p50 / p95 (no stem cell; a function at rest: its standby container created)', `${results.coldStartP50Ms} / ${results.coldStartP95Ms} ms`, '~230 ms'],
    ['cold start p50 / p95 (no stem cell; invoked right after its deploy)', `${results.afterDeployColdStartP50Ms} / ${results.afterDeployColdStartP95Ms} ms`, '-'],
    ['bare `docker create + start` of the same image until node has booted, p50', `${results.bareDockerBootP50Ms} ms`, '-'],
    ['cold start at rest above the engine floor (median of the paired samples\' differences)', `${results.coldStartGapToEngineFloorMs} ms`, '-'],
    ['cold start p50 / p95 (stem cell)', `${results.stemColdStartP50Ms} / ${results.stemColdStartP95Ms} ms`, '-'],
    ['warm latency p50 / p99 (sequential)', `${results.warmP50Ms} / ${results.warmP99Ms} ms`, '~1.06 ms'],
    ['bare node:http sequential p50, same run', `${results.baselineWarmP50Ms} ms`, '-'],
    [`warm throughput, 32 connections (median of ${LOAD_ROUNDS} x ${LOAD_SECONDS} s)`, `${results.throughputRps} req/s`, '~2,951 req/s'],
    ['bare node:http baseline, alternating with it', `${results.baselineRps} req/s`, '-'],
    ['Glambdar / baseline (median of the rounds\' ratios)', `${results.throughputRatio}`, '-'],
    ['hop floor: bare proxy to the same worker over one socket, no container (sequential p50; req/s)', `${results.hopFloorWarmP50Ms} ms; ${results.hopFloorRps} req/s`, '-'],
    ['sequential p50 above the hop floor\'s (median of the rounds\' differences)', `${results.sequentialGapToHopFloorMs} ms`, '-'],
    ['Glambdar / hop floor (median of the rounds\' ratios)', `${results.throughputRatioToHopFloor}`, '-'],
    ['CPU per request at 32 connections, from /proc: Glambdar runtime / hop floor proxy / bare node:http (median of the rounds)', `${cpu.glambdarUs} / ${cpu.hopFloorUs} / ${cpu.bareUs} us`, '-'],
    ['CPU per request of the worker behind it: Glambdar (in its container) / hop floor', `${cpu.glambdarWorkerUs} / ${cpu.hopFloorWorkerUs} us`, '-'],
    ['private function (a key checked per request), same rounds', `${results.privateThroughputRps} req/s (${results.privateErrors} errors)`, '-'],
    ['private / public (median of the rounds\' ratios)', `${results.privateToPublicRatio}`, '-'],
    ['p99 latency under load, median of the rounds (worst round); hop floor\'s median', `${results.loadP99Ms} ms (${results.loadP99WorstRoundMs} ms), ${results.loadErrors} errors; ${results.hopFloorLoadP99Ms} ms`, '-'],
    ['idle warm container RSS', `${results.containerRssMb} MiB`, '-'],
    ['runtime RSS, 100 functions deployed', `${results.runtimeRssMb} MiB`, '-'],
  );
  await mkdir(dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\n| metric | Glambdar (${results.machine}) | original (13th-gen i7) |\n|---|---|---|\n`);
  for (const [a, b, c] of table) process.stdout.write(`| ${a} | ${b} | ${c} |\n`);
  process.stdout.write(`\nwritten to bench/results/latest.json\n`);
  agent.destroy();
}

await main();
