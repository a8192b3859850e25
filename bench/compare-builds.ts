/**
 * `node dist/bench/compare-builds.js <dist> [<dist> ...]` (after `npm run build`): two or more
 * builds of the runtime against the hop floor, in the same minutes. Each build's runtime runs
 * `ping` (as `npm run bench` deploys it) on a temp data folder; then rounds of BENCH_SECONDS
 * (default 5) at 32 connections alternate the floor and every build, BENCH_ROUNDS times
 * (default 4). Each load prints its req/s and CPU per request: the runtime's main thread, its
 * other threads (the record writer, V8's helpers) and its worker. Then BENCH_SEQ_ROUNDS
 * (default 6) rounds of 500 sequential requests on each server in turn, after 2,000 unreported
 * ones each (as `npm run bench` measures its sequential p50). At the end, each build's median
 * ratio to the floor and median sequential p50 above the floor's of the same round. A change to the invoke path is measured this way: this machine's
 * speed drifts by 2x within minutes, so only builds measured side by side compare.
 *
 * A build is a copy of `dist/` made from another commit (`git worktree add`, `npm run build`,
 * copy its `dist/` to a folder inside this checkout, where it finds `node_modules`).
 */
import Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, sequential, waitForInstance, zipOf } from './fixtures.js';
import { load } from './load.js';
import { childPids } from './proc-cpu.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const SEQ_ROUNDS = Number(process.env['BENCH_SEQ_ROUNDS'] ?? 6);
const docker = new Docker();

interface Server {
  name: string;
  port: number;
  path: string;
  child: ChildProcess;
  workers: number[];
  dir?: string;
  instance?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startBuild(dist: string): Promise<Server> {
  const dir = await mkdtemp('/tmp/glb-compare-');
  const port = await freePort();
  const child = spawn(process.execPath, [join(dist, 'api', 'cli.js'), 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const server: Server = { name: dist, port, path: '/invoke/ping', child, workers: [], dir };
  server.instance = await waitForInstance(port);
  const auth = { authorization: `Bearer ${readFileSync(join(dir, 'admin-token'), 'utf8').trim()}` };
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await zipOf({ 'index.js': PING }))]), 'ping.zip');
  form.set('maxConcurrency', '64');
  const res = await fetch(`http://127.0.0.1:${port}/deploy`, { method: 'POST', body: form, headers: auth });
  if (res.status >= 300) throw new Error(`deploy to ${dist}: ${res.status} ${await res.text()}`);
  await fetch(`http://127.0.0.1:${port}/invoke/ping`, { method: 'POST', body: '{}' });
  // The first answer comes from a stem cell, replaced by a labelled container in the background: measure that one.
  type Info = { status: { containers: Array<{ id: string | null; fromStemCell: boolean; state: string }> } };
  for (let i = 0; i < 150; i++) {
    const info = (await (await fetch(`http://127.0.0.1:${port}/info/ping`, { headers: auth })).json()) as Info;
    const settled = info.status.containers.length > 0 && info.status.containers.every((c) => !c.fromStemCell && c.state === 'ready');
    if (settled) {
      for (const c of info.status.containers) if (c.id) server.workers.push((await docker.getContainer(c.id).inspect()).State.Pid);
      return server;
    }
    await sleep(200);
  }
  throw new Error(`${dist}: ping's container did not settle`);
}

async function startFloor(): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(HERE, 'hop-floor.js'), String(port), join(HERE, '..', 'worker-bundle', 'main.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    child.stdout!.once('data', () => ok());
    child.once('exit', (code) => fail(new Error(`hop floor exited ${code}`)));
  });
  return { name: 'hop floor', port, path: '/', child, workers: childPids(child.pid!) };
}

async function stop(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  if (server.instance) {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${server.instance}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (server.dir) await rm(server.dir, { recursive: true, force: true });
}

async function measure(server: Server, seconds: number): Promise<{ rps: number; mainUs: number; otherUs: number; workerUs: number }> {
  const result = await load(server.port, server.path, seconds, {}, { front: server.child.pid!, workers: server.workers });
  const { frontUs, frontMainUs, workerUs } = result.cpu;
  return { rps: result.rps, mainUs: frontMainUs, otherUs: frontUs - frontMainUs, workerUs };
}

async function main(): Promise<void> {
  const dists = process.argv.slice(2).map((d) => resolve(d));
  if (dists.length === 0) throw new Error('usage: node dist/bench/compare-builds.js <dist> [<dist> ...]');
  const servers: Server[] = [];
  try {
    servers.push(await startFloor());
    for (const dist of dists) servers.push(await startBuild(dist));
    for (const server of servers) await measure(server, 3);
    const ratios = new Map<string, number[]>(dists.map((d) => [d, []]));
    for (let round = 0; round < ROUNDS; round++) {
      let floorRps = NaN;
      for (const server of servers) {
        const m = await measure(server, SECONDS);
        if (server.instance === undefined) floorRps = m.rps;
        else ratios.get(server.name)!.push(m.rps / floorRps);
        process.stdout.write(
          `round ${round + 1} ${server.name}: ${Math.round(m.rps)} req/s; CPU us/request main thread ${m.mainUs.toFixed(1)}, other threads ${m.otherUs.toFixed(1)}, worker ${m.workerUs.toFixed(1)}\n`,
        );
      }
    }
    const gaps = new Map<string, number[]>(dists.map((d) => [d, []]));
    for (const server of servers) await sequential(server.port, server.path, 1, 2_000);
    for (let round = 0; round < SEQ_ROUNDS; round++) {
      let floorP50 = NaN;
      for (const server of servers) {
        const p50 = percentile(await sequential(server.port, server.path, 500, 100), 50);
        if (server.instance === undefined) floorP50 = p50;
        else gaps.get(server.name)!.push(p50 - floorP50);
        process.stdout.write(`sequential round ${round + 1} ${server.name}: p50 ${p50.toFixed(3)} ms\n`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    for (const dist of dists) {
      const xs = ratios.get(dist)!;
      const ds = gaps.get(dist)!;
      process.stdout.write(`${dist}: ratio to the hop floor, median ${median(xs).toFixed(3)} (rounds ${xs.map((x) => x.toFixed(3)).join(', ')})\n`);
      process.stdout.write(`${dist}: sequential p50 above the floor's, median ${median(ds).toFixed(3)} ms (rounds ${ds.map((x) => x.toFixed(3)).join(', ')})\n`);
    }
  } finally {
    for (const server of servers) await stop(server);
  }
}

await main();
