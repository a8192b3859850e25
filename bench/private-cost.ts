/**
 * `node dist/bench/private-cost.js` (after `npm run build`): what a private function's key
 * check costs, as the runtime process's CPU time per request, which a loaded machine disturbs
 * far less than throughput. One runtime on a temp data folder runs `ping` (public) and
 * `ping-key` (`auth: key`, each request carrying its key); rounds ordered public, private,
 * private, public (ABBA) of BENCH_REQUESTS requests (default 30,000) at 32 connections, plus the
 * public function sent the same header, which tells the header's cost from the check's.
 */
import autocannon from 'autocannon';
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForInstance, zipOf } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'api', 'cli.js');
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 30_000);
/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};

async function main(): Promise<void> {
  const dir = await mkdtemp('/tmp/glb-cost-');
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_LOG_LEVEL: 'warn', GLAMBDAR_STEM_CELLS: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  let instance = '';
  try {
    instance = await waitForInstance(port);
    const auth = { authorization: `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}` };
    const zip = await zipOf({ 'index.js': PING });
    for (const [name, fields] of [['ping', {}], ['ping-key', { auth: 'key' }]] as const) {
      const form = new FormData();
      form.set('file', new Blob([new Uint8Array(zip)]), `${name}.zip`);
      form.set('maxConcurrency', '64');
      for (const [k, v] of Object.entries(fields)) form.set(k, v);
      const res = await fetch(`${base}/deploy`, { method: 'POST', body: form, headers: auth });
      if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${await res.text()}`);
    }
    const { key } = (await (await fetch(`${base}/keys/ping-key`, { method: 'POST', headers: auth })).json()) as { key: string };
    const withKey = { authorization: `Bearer ${key}` };
    const run = async (path: string, headers: Record<string, string>, amount = REQUESTS): Promise<number> => {
      const before = cpuTicks(child.pid!);
      const result = await autocannon({ url: `${base}${path}`, method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...headers }, connections: 32, amount });
      if (result.errors + result.non2xx > 0) throw new Error(`${path}: ${result.errors + result.non2xx} errors`);
      return ((cpuTicks(child.pid!) - before) / TICKS_PER_SECOND / result.requests.total) * 1e6;
    };
    await run('/invoke/ping', {}, 20_000);
    await run('/invoke/ping-key', withKey, 20_000);
    const pub: number[] = [];
    const priv: number[] = [];
    const header: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a1 = await run('/invoke/ping', {});
      const b1 = await run('/invoke/ping-key', withKey);
      const b2 = await run('/invoke/ping-key', withKey);
      const a2 = await run('/invoke/ping', {});
      const c = await run('/invoke/ping', withKey);
      pub.push(a1, a2);
      priv.push(b1, b2);
      header.push(c);
      process.stderr.write(`bench:private-cost: round ${round}: public ${a1.toFixed(1)} ${a2.toFixed(1)}, private ${b1.toFixed(1)} ${b2.toFixed(1)}, public with the header ${c.toFixed(1)} us\n`);
    }
    process.stdout.write(
      `runtime CPU per request (median): public ${median(pub).toFixed(1)} us, private ${median(priv).toFixed(1)} us ` +
        `(x${(median(priv) / median(pub)).toFixed(3)}), public sent the same header ${median(header).toFixed(1)} us\n`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    if (instance) {
      const docker = new Docker();
      for (const c of await docker.listContainers({ all: true, filters: { label: [`glambdar.instance=${instance}`] } })) {
        await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
