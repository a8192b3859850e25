import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { startServer, type GlambdarServer } from './server.js';

/**
 * `GET /info` on a host with 1,100 functions: pages, and polling it does not stall the
 * invoke path. The pollers run in a process of their own, so their parsing costs this one nothing.
 */

const FUNCTIONS = 1100;
let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-scale-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none' }), sandbox, log: silentLogger, watchManifests: false });
  const code = join(dir, 'code');
  await mkdir(code);
  await writeFile(join(code, 'index.js'), 'exports.handler = async () => ({ pong: true });');
  for (let i = 0; i < FUNCTIONS; i++) {
    await server.runtime.deploy({ name: `fn-${String(i).padStart(4, '0')}`, code: { kind: 'folder', path: code }, patch: { env: { INDEX: String(i), PADDING: 'x'.repeat(200) } } });
  }
}, 120_000);

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

async function latencies(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const res = await fetch(`${server.url}/invoke/fn-0000`);
    await res.arrayBuffer();
    out.push(performance.now() - started);
  }
  return out.sort((a, b) => a - b);
}

const p50 = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)]!;

describe(`GET /info with ${FUNCTIONS} functions`, () => {
  it('pages like the Kubernetes list API: limit and an opaque continue token, every function once', async () => {
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const query: string = `limit=250${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
      const res = await fetch(`${server.url}/info?${query}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { count: number; functions: Array<{ name: string }>; continue: string | null; remaining: number };
      expect(page.count).toBe(page.functions.length);
      expect(page.remaining).toBe(FUNCTIONS - seen.length - page.count);
      seen.push(...page.functions.map((f) => f.name));
      token = page.continue;
      pages += 1;
    } while (token);
    expect(pages).toBe(5);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(FUNCTIONS);
    const bad = await fetch(`${server.url}/info?continue=nonsense`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/continue/);
  });

  it('is polled by eight clients while invocations keep their latency', async () => {
    await latencies(200); // warm: the first start and V8's compile of the hot path
    const quiet = p50(await latencies(300));
    const pollers = spawn(
      process.execPath,
      [
        '-e',
        `const url = process.argv[1];
         let n = 0;
         const loop = async () => { for (;;) { const r = await fetch(url); await r.arrayBuffer(); n++; } };
         for (let i = 0; i < 8; i++) loop();
         setInterval(() => process.stdout.write(n + '\\n'), 200);`,
        `${server.url}/info`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let polled = 0;
    pollers.stdout.on('data', (chunk: Buffer) => (polled = Number(chunk.toString().trim().split('\n').at(-1))));
    try {
      while (polled < 8) await new Promise((resolve) => setTimeout(resolve, 50));
      const busy = p50(await latencies(300));
      const before = polled;
      expect(before).toBeGreaterThan(8);
      console.log(`invoke p50 ${quiet.toFixed(2)} ms quiet, ${busy.toFixed(2)} ms while /info was polled ${before} times`);
      expect(busy).toBeLessThan(Math.max(5 * quiet, 10));
    } finally {
      pollers.kill();
    }
  }, 120_000);
});
