import { Console } from 'node:console';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WorkerConfig } from './config.js';
import { rehearseInvoke } from './rehearsal.js';
import { encodeFrame, type Frame } from './framing.js';
import { PROTOCOL_VERSION, type HelloHeader, type InvokeHeader, type OutputHeader, type ResultHeader } from './protocol.js';
import { startWorker, type Worker } from './server.js';
import { ACCEPTED_SHAPES } from './interfaces/detect.js';
import { FakeRuntime, type RuntimeConnection } from './testing/fake-runtime.js';

// Passed through, and watched: a stem cell rehearses an invocation before its hello.
vi.mock('./rehearsal.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('./rehearsal.js')>();
  return { ...original, rehearseInvoke: vi.fn(original.rehearseInvoke) };
});

const HANDLER = `
exports.handler = async (req) => {
  const { n } = await req.json();
  console.log('start ' + n);
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
  console.error('middle ' + n);
  if (req.path === '/throw') throw new Error('boom ' + n);
  if (req.path === '/throw-string') throw 'plain ' + n;
  if (req.path === '/bad-status') return { statusCode: 42 };
  await new Promise((resolve) => setImmediate(resolve));
  console.log('end ' + n);
  return { statusCode: 201, headers: { 'X-N': String(n) }, body: { n, method: req.method, q: req.query } };
};
`;

const dirs: string[] = [];
const open: Array<Worker | FakeRuntime> = [];
// Vitest replaces the global console; the worker in a container has Node's own.
const vitestConsole = globalThis.console;

beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

afterAll(async () => {
  globalThis.console = vitestConsole;
  for (const name of ['glambdarTestStarted', 'glambdarTestRelease']) Reflect.deleteProperty(globalThis, name);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A runtime socket, and a worker for `files` connecting to it. */
async function setup(
  files: Record<string, string>,
  options: { drainTimeoutMs?: number; stem?: boolean } = {},
): Promise<{ config: WorkerConfig; worker: Worker; runtime: FakeRuntime; fnDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-worker-'));
  dirs.push(dir);
  const fnDir = join(dir, 'fn');
  await mkdir(fnDir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(fnDir, name), text);
  const runtime = await FakeRuntime.listen(join(dir, 'runtime.sock'));
  open.push(runtime);
  const config: WorkerConfig = { socketPath: runtime.path, fnDir, maxLogBytes: 4096, drainTimeoutMs: options.drainTimeoutMs ?? 2000, stem: options.stem ?? false };
  const worker = await startWorker(config);
  open.unshift(worker);
  return { config, worker, runtime, fnDir };
}

const resultsById = (frames: Frame[]): Map<number, Frame<ResultHeader>> =>
  new Map(frames.slice(1).map((f) => [(f.header as ResultHeader).id, f as Frame<ResultHeader>]));

describe('worker server', () => {
  it('connects to the runtime and says hello with its protocol, pid and readiness, again after the runtime drops it', async () => {
    const { worker, runtime } = await setup({ 'index.js': HANDLER });
    expect(worker.ready).toBe(true);
    const first = await runtime.accept(1);
    const [hello] = await first.next(1);
    expect(hello?.header).toEqual({ t: 'hello', v: PROTOCOL_VERSION, pid: process.pid, loadError: null, stem: false, interface: 'glambdar' } satisfies HelloHeader);
    // A restarted runtime listens again on the same socket: the worker connects again and greets it.
    first.socket.destroy();
    const second = await runtime.accept(2);
    expect((await second.next(1))[0]?.header).toMatchObject({ t: 'hello', loadError: null });
    second.invoke(1, '/ok', { n: 1 });
    expect((await second.next(2))[1]?.header).toMatchObject({ t: 'result', id: 1, statusCode: 201 });
  });

  it('answers in the form it was asked in: JSON to JSON invokes, the binary form once the runtime used it', async () => {
    const { runtime } = await setup({ 'index.js': HANDLER });
    const client = await runtime.accept();
    client.invoke(1, '/ok', { n: 1 });
    await client.next(2);
    expect(client.decoder.binary).toBe(false);
    client.invoke(2, '/ok', { n: 2 }, 'PUT', 'binary');
    const [, first, second] = await client.next(3);
    expect(client.decoder.binary).toBe(true);
    for (const [frame, n, method] of [[first, 1, 'POST'], [second, 2, 'PUT']] as const) {
      expect(frame?.header).toMatchObject({ t: 'result', id: n, statusCode: 201, headers: { 'x-n': String(n) }, stdout: `start ${n}\nend ${n}\n`, stderr: `middle ${n}\n`, error: null });
      expect(JSON.parse(frame!.body.toString())).toEqual({ n, method, q: { id: String(n) } });
    }
  });

  it('runs many invocations at once over one connection, each with its own result and output', async () => {
    const { runtime } = await setup({ 'index.js': HANDLER });
    const client = await runtime.accept();
    const wire = Buffer.concat(
      Array.from({ length: 30 }, (_, n) =>
        encodeFrame(
          { t: 'invoke', id: 100 + n, method: 'POST', path: '/ok', query: { id: String(n) }, headers: {}, requestId: `req-${n}`, timeoutMs: 30_000 } satisfies InvokeHeader,
          Buffer.from(JSON.stringify({ n })),
        ),
      ),
    );
    client.socket.write(wire); // every frame in one write
    const results = resultsById(await client.next(31));
    expect(results.size).toBe(30);
    for (let n = 0; n < 30; n++) {
      const frame = results.get(100 + n);
      expect(frame?.header).toMatchObject({
        t: 'result',
        statusCode: 201,
        headers: { 'x-n': String(n), 'content-type': 'application/json' },
        stdout: `start ${n}\nend ${n}\n`,
        stderr: `middle ${n}\n`,
        error: null,
      });
      expect(frame?.header.durationMs).toBeGreaterThanOrEqual(0);
      expect(JSON.parse(frame?.body.toString() ?? '')).toEqual({ n, method: 'POST', q: { id: String(n) } });
    }
  });

  it('answers 500 with the message when a handler throws, and logs the stack to its stderr', async () => {
    const { runtime } = await setup({ 'index.js': HANDLER });
    const client = await runtime.accept();
    client.invoke(1, '/throw', { n: 1 });
    client.invoke(2, '/throw-string', { n: 2 });
    client.invoke(3, '/ok', { n: 3 });
    client.invoke(4, '/bad-status', { n: 4 });
    const results = resultsById(await client.next(5));
    expect(results.get(1)?.header).toMatchObject({ statusCode: 500, error: 'boom 1', stdout: 'start 1\n' });
    expect(results.get(1)?.header.stderr).toMatch(/^middle 1\nError: boom 1\n\s+at /);
    expect(results.get(1)?.body.length).toBe(0);
    expect(results.get(2)?.header).toMatchObject({ statusCode: 500, error: 'plain 2' });
    expect(results.get(3)?.header).toMatchObject({ statusCode: 201, error: null });
    expect(results.get(4)?.header).toMatchObject({ statusCode: 500, error: expect.stringMatching(/invalid statusCode 42/) });
  });

  it('stays alive when the function fails to load and answers every invocation with why', async () => {
    const { worker, runtime } = await setup({ 'index.js': 'exports.nothing = 1;' });
    expect(worker.ready).toBe(false);
    const client = await runtime.accept();
    const [hello] = await client.next(1);
    // The export is named "nothing".
    const why = `index.js fits no handler interface: it exports nothing (a number); accepted: ${ACCEPTED_SHAPES}`;
    expect(hello?.header).toMatchObject({ loadError: why });
    client.invoke(9, '/', {});
    const [, result] = await client.next(2);
    expect(result?.header).toMatchObject({ id: 9, statusCode: 500, error: `function failed to load: ${why}` });
  });

  it('drops a connection that sends a malformed frame, then connects again and serves', async () => {
    const { runtime } = await setup({ 'index.js': HANDLER });
    const bad = await runtime.accept(1);
    await bad.next(1);
    bad.socket.write(encodeFrame({ t: 'nonsense', id: 1 }));
    await bad.closed;
    const good = await runtime.accept(2);
    good.invoke(1, '/ok', { n: 1 });
    const [, result] = await good.next(2);
    expect(result?.header).toMatchObject({ id: 1, statusCode: 201 });
  });

  it('on close waits for invocations in flight, refuses new ones, then closes its connection for good', async () => {
    const started = new Promise<void>((resolve) => Object.assign(globalThis, { glambdarTestStarted: resolve }));
    const gate = `
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      exports.handler = async (req) => {
        if (req.path === '/release') { release(); return 'released'; }
        globalThis.glambdarTestStarted();
        await gate;
        return 'waited';
      };
      globalThis.glambdarTestRelease = () => release();`;
    const { worker, runtime } = await setup({ 'index.js': gate });
    const client = await runtime.accept();
    await client.next(1);
    client.invoke(1, '/wait', {});
    await started;
    let closed = false;
    const closing = worker.close().then(() => (closed = true));
    client.invoke(2, '/release', {}); // arrives while draining: refused, so the gate stays shut
    const [, refused] = await client.next(2);
    expect(refused?.header).toMatchObject({ id: 2, statusCode: 503, error: 'worker is shutting down' });
    expect(closed).toBe(false);
    (globalThis as unknown as { glambdarTestRelease: () => void }).glambdarTestRelease();
    const [, , waited] = await client.next(3);
    expect(waited?.header).toMatchObject({ id: 1, statusCode: 200, error: null });
    expect(waited?.body.toString()).toBe('waited');
    await closing;
    await client.closed;
    expect(worker.connected).toBe(false);
    // A closed worker does not come back.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runtime.connections).toHaveLength(1);
  });

  it('gives up waiting for a stuck invocation after the drain timeout', async () => {
    const started = new Promise<void>((resolve) => Object.assign(globalThis, { glambdarTestStarted: resolve }));
    const stuck = 'exports.handler = () => { globalThis.glambdarTestStarted(); return new Promise(() => {}); };';
    const { worker, runtime } = await setup({ 'index.js': stuck }, { drainTimeoutMs: 20 });
    const client = await runtime.accept();
    await client.next(1);
    client.invoke(1, '/', {});
    await started;
    await worker.close();
    await client.closed;
    expect(client.frames).toHaveLength(1);
  });

  it('keeps trying until the runtime listens, then connects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glambdar-worker-'));
    dirs.push(dir);
    await writeFile(join(dir, 'index.js'), HANDLER);
    const socketPath = join(dir, 'runtime.sock');
    const worker = await startWorker({ socketPath, fnDir: dir, maxLogBytes: 100, drainTimeoutMs: 100, stem: false });
    open.push(worker);
    expect(worker.connected).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const runtime = await FakeRuntime.listen(socketPath);
    open.push(runtime);
    const [hello] = await (await runtime.accept()).next(1);
    expect(hello?.header).toMatchObject({ t: 'hello' });
    expect(worker.connected).toBe(true);
  });

  it("connects when the runtime's socket appears, without waiting for its retry timer", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glambdar-worker-'));
    dirs.push(dir);
    await writeFile(join(dir, 'index.js'), HANDLER);
    const socketPath = join(dir, 'runtime.sock');
    // Retry timers that never fire: only the watch of the socket's folder can bring the worker in.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const worker = await startWorker({ socketPath, fnDir: dir, maxLogBytes: 100, drainTimeoutMs: 100, stem: false });
      open.push(worker);
      // The first connect fails (no socket yet), which sets up the watch.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(worker.connected).toBe(false);
      const runtime = await FakeRuntime.listen(socketPath);
      open.push(runtime);
      const [hello] = await (await runtime.accept()).next(1);
      expect(hello?.header).toMatchObject({ t: 'hello' });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('worker server as a stem cell', () => {
  it('starts empty, loads the function on a load frame with its env, then serves it', async () => {
    vi.mocked(rehearseInvoke).mockClear();
    const { worker, runtime, fnDir } = await setup({}, { drainTimeoutMs: 100, stem: true });
    const client: RuntimeConnection = await runtime.accept();
    const [hello] = await client.next(1);
    expect(hello?.header).toEqual({ t: 'hello', v: PROTOCOL_VERSION, pid: process.pid, loadError: null, stem: true, interface: null });
    expect(worker.ready).toBe(false);
    // Before its hello it rehearsed a load of its own (worker/rehearsal.ts), from a folder now gone.
    const rehearsed = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes('glambdar-rehearsal-'));
    expect(rehearsed).toHaveLength(1);
    expect(existsSync(rehearsed[0]!)).toBe(false);
    // And an invocation through its own invoke path, in full.
    expect(vi.mocked(rehearseInvoke).mock.calls).toEqual([[]]);
    await expect(vi.mocked(rehearseInvoke).mock.results[0]!.value).resolves.toBe(true);

    client.invoke(1, '/', {});
    const [, early] = await client.next(2);
    expect(early?.header).toMatchObject({ t: 'result', id: 1, statusCode: 503, error: 'this worker has no function loaded yet' });

    // The runtime places the code, then asks for the load.
    await writeFile(join(fnDir, 'index.js'), 'exports.handler = async () => ({ greeting: process.env.STEM_GREETING });');
    client.socket.write(encodeFrame({ t: 'load', id: 2, env: { STEM_GREETING: 'specialized' }, interface: null, handler: null }));
    const [, , loaded] = await client.next(3);
    expect(loaded?.header).toEqual({ t: 'loaded', id: 2, loadError: null, interface: 'glambdar' });
    expect(worker.ready).toBe(true);

    client.invoke(3, '/', {});
    const [, , , answer] = await client.next(4);
    expect(answer?.header).toMatchObject({ t: 'result', id: 3, statusCode: 200, error: null });
    expect(JSON.parse(answer!.body.toString())).toEqual({ greeting: 'specialized' });

    client.socket.write(encodeFrame({ t: 'load', id: 4, env: {}, interface: null, handler: null }));
    const frames = await client.next(5);
    expect(frames[4]?.header).toEqual({ t: 'loaded', id: 4, loadError: 'this worker has already loaded a function', interface: null });
    Reflect.deleteProperty(process.env, 'STEM_GREETING');
  });

  it('attributes what the function printed at load to its first invocation, and sends it and later stray output as container output', async () => {
    const loud = `console.log('loading');
console.error('warming');
exports.handler = async (req) => {
  if (req.path === '/later') setTimeout(() => console.log('after the invocation'), 5).unref();
  console.log('in ' + req.path);
  return 'ok';
};`;
    const { runtime } = await setup({ 'index.js': loud });
    const client = await runtime.accept();
    client.invoke(1, '/first');
    const first = await resultOf(client, 1);
    expect(first.header).toMatchObject({ stdout: 'loading\nin /first\n', stderr: 'warming\n' });
    client.invoke(2, '/later');
    const second = await resultOf(client, 2);
    expect(second.header).toMatchObject({ stdout: 'in /later\n', stderr: '' });
    // What was printed outside any invocation came as output frames: the load, then the timer.
    await waitFor(client, () => outputOf(client.frames).includes('after the invocation'));
    expect(outputOf(client.frames)).toBe('stdout loading\nstderr warming\nstdout after the invocation\n');
  });

  it('answers 400 INVALID_JSON_BODY when the error of json() for a body that is not JSON escapes the handler', async () => {
    const handler = `exports.handler = async (req) => {
  if (req.path === '/caught') {
    try { return await req.json(); } catch (err) { return { statusCode: 422, body: { caught: err.name } }; }
  }
  const data = await req.json();
  return data ?? 'empty';
};`;
    const { runtime } = await setup({ 'index.js': handler });
    const client = await runtime.accept();
    client.socket.write(encodeFrame({ t: 'invoke', id: 1, method: 'POST', path: '/', query: {}, headers: {}, requestId: 'r', timeoutMs: 30_000 } satisfies InvokeHeader, Buffer.from('{nope')));
    client.socket.write(encodeFrame({ t: 'invoke', id: 2, method: 'POST', path: '/caught', query: {}, headers: {}, requestId: 'r', timeoutMs: 30_000 } satisfies InvokeHeader, Buffer.from('{nope')));
    client.socket.write(encodeFrame({ t: 'invoke', id: 3, method: 'POST', path: '/', query: {}, headers: {}, requestId: 'r', timeoutMs: 30_000 } satisfies InvokeHeader));
    const bad = await resultOf(client, 1);
    expect(bad.header).toMatchObject({ statusCode: 400, errorCode: 'INVALID_JSON_BODY', error: expect.stringMatching(/^request body is not valid JSON: /) });
    expect(bad.header.stderr).not.toMatch(/\n\s+at /);
    expect((await resultOf(client, 2)).header).toMatchObject({ statusCode: 422, errorCode: null });
    const empty = await resultOf(client, 3);
    expect(empty.header).toMatchObject({ statusCode: 200, errorCode: null });
    expect(empty.body.toString()).toBe('empty');
  });
});

/** Waits until `check` holds over the connection's frames. */
async function waitFor(client: RuntimeConnection, check: () => boolean): Promise<void> {
  for (let n = client.frames.length + 1; !check(); n++) await client.next(n);
}

/** The result frame of invocation `id`, once it has come. */
async function resultOf(client: RuntimeConnection, id: number): Promise<Frame<ResultHeader>> {
  const find = () => client.frames.find((f) => (f.header as ResultHeader).t === 'result' && (f.header as ResultHeader).id === id);
  await waitFor(client, () => find() !== undefined);
  return find() as Frame<ResultHeader>;
}

/** The text of every output frame, `stream text` each. */
function outputOf(frames: Frame[]): string {
  return frames
    .map((f) => f.header as OutputHeader)
    .filter((h) => h.t === 'output')
    .map((h) => `${h.stream} ${h.text}`)
    .join('');
}
