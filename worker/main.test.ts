import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { encodeFrame, type Frame } from './framing.js';
import { type InvokeHeader, type LoadHeader } from './protocol.js';
import { FakeRuntime } from './testing/fake-runtime.js';

// The worker as it runs in a container: bundled into one CommonJS file with the options
// `npm run build` uses, started with `node main.cjs`, driven over its socket.

let root: string;
let workerMain: string;
const children: ChildProcess[] = [];
const runtimes: FakeRuntime[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'glambdar-main-'));
  workerMain = join(root, 'worker', 'main.cjs');
  await build({
    entryPoints: [join(dirname(fileURLToPath(import.meta.url)), 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    outfile: workerMain,
  });
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const runtime of runtimes.splice(0)) await runtime.close();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  runtime: FakeRuntime;
  stderr: () => string;
  waitForStderr: (text: string) => Promise<void>;
  exited: Promise<number | null>;
}

async function run(name: string, files: Record<string, string>, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Running> {
  const fnDir = join(root, name);
  await mkdir(fnDir);
  for (const [file, text] of Object.entries(files)) await writeFile(join(fnDir, file), text);
  const socketPath = join(root, `${name}.sock`);
  const runtime = await FakeRuntime.listen(socketPath);
  runtimes.push(runtime);
  const child = spawn(process.execPath, [...nodeArgs, workerMain], {
    env: { PATH: process.env.PATH, GLAMBDAR_SOCKET: socketPath, GLAMBDAR_FN_DIR: fnDir, GLAMBDAR_MAX_LOG_BYTES: '2048', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const w of waiting.filter((w) => stderr.includes(w.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitForStderr = (text: string): Promise<void> =>
    stderr.includes(text) ? Promise.resolve() : new Promise((resolve) => waiting.push({ text, resolve }));
  return { child, runtime, stderr: () => stderr, waitForStderr, exited };
}

/** The worker's connection (it loads the function first, then connects), collecting frames. */
async function open(runtime: FakeRuntime): Promise<{ socket: Socket; next: (count: number) => Promise<Frame[]> }> {
  const connection = await runtime.accept();
  return { socket: connection.socket, next: (count) => connection.next(count) };
}

function invoke(socket: Socket, id: number, path: string): void {
  const header: InvokeHeader = { t: 'invoke', id, method: 'GET', path, query: {}, headers: {}, requestId: `req-${id}`, timeoutMs: 30_000 };
  socket.write(encodeFrame(header));
}

describe('worker process', () => {
  it('captures console output per invocation and survives a stray rejection, which it sends as container output', async () => {
    const worker = await run('console', {
      'index.js': `
        exports.handler = async (req) => {
          console.log('hello from', req.path);
          console.error('warn from', req.path);
          if (req.path === '/stray') Promise.reject(new Error('stray'));
          return { path: req.path };
        };`,
    });
    const { socket, next } = await open(worker.runtime);
    invoke(socket, 1, '/stray');
    invoke(socket, 2, '/after');
    // The hello, two results and the output frame of the stray rejection, in some order after the hello.
    const [hello, ...rest] = await next(4);
    expect(hello?.header).toMatchObject({ t: 'hello', pid: worker.child.pid, loadError: null });
    const byId = new Map(rest.filter((f) => (f.header as { t: string }).t === 'result').map((f) => [(f.header as { id: number }).id, f]));
    expect(byId.get(1)?.header).toMatchObject({ statusCode: 200, stdout: 'hello from /stray\n', stderr: 'warn from /stray\n' });
    expect(byId.get(2)?.header).toMatchObject({ statusCode: 200, stdout: 'hello from /after\n' });
    expect(rest.find((f) => (f.header as { t: string }).t === 'output')?.header).toMatchObject({ stream: 'stderr', text: expect.stringContaining('unhandled rejection: Error: stray') });
    await worker.waitForStderr('unhandled rejection: Error: stray');
    invoke(socket, 3, '/still-alive');
    const frames = await next(5);
    expect(frames[4]?.header).toMatchObject({ id: 3, statusCode: 200 });
  });

  it('loads no node module a socket worker does not use before its first answer (each one is cold-start time)', async () => {
    // The HTTP mode's node:http and node:crypto load only in that mode, and the worker's clock
    // is not performance.now(), whose first touch loads perf_hooks. Under the heap flag every
    // container gets, node compiles each of these from source: milliseconds of a cold start.
    const worker = await run('modules', {
      'index.js': "exports.handler = async () => ({ modules: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')) });",
    });
    const { socket, next } = await open(worker.runtime);
    invoke(socket, 1, '/');
    const [, result] = await next(2);
    const modules = (JSON.parse(result!.body.toString()) as { modules: string[] }).modules;
    expect(modules).toContain('NativeModule net');
    for (const unused of ['http', 'crypto', 'perf_hooks']) expect(modules).not.toContain(`NativeModule ${unused}`);
  });

  it('keeps the heap limits of its heap flags but sets the flags back, so node modules load from its code cache', async () => {
    const tagOf = (args: string[]): string =>
      execFileSync(process.execPath, [...args, '-e', "process.stdout.write(String(require('v8').cachedDataVersionTag()))"], { encoding: 'utf8' });
    const plain = tagOf([]);
    // What the worker undoes: either flag alone changes the tag node's code cache is checked against.
    expect(tagOf(['--max-old-space-size=48'])).not.toBe(plain);
    expect(tagOf(['--max-semi-space-size=4'])).not.toBe(plain);
    const worker = await run(
      'heap-flag',
      { 'index.js': "const v8 = require('v8'); exports.handler = async () => ({ tag: String(v8.cachedDataVersionTag()), limitMb: v8.getHeapStatistics().heap_size_limit / 1048576 });" },
      {},
      ['--max-old-space-size=48', '--max-semi-space-size=4'],
    );
    const { socket, next } = await open(worker.runtime);
    invoke(socket, 1, '/');
    const [, result] = await next(2);
    const seen = JSON.parse(result!.body.toString()) as { tag: string; limitMb: number };
    expect(seen.tag).toBe(plain);
    // 48 MiB of old space plus a young generation of three 4 MiB semi-spaces.
    expect(seen.limitMb).toBe(60);
    expect(worker.stderr()).not.toContain('DeprecationWarning');
  });

  it('loads ES module functions from the CommonJS bundle: index.mjs, and index.js in a "type": "module" package', async () => {
    const esm = 'export const handler = async (req) => ({ statusCode: 200, body: { esm: typeof require === "undefined", path: req.path } });';
    for (const [name, files] of [
      ['mjs', { 'index.mjs': esm }],
      ['typemodule', { 'index.js': esm, 'package.json': '{"type":"module"}' }],
    ] as const) {
      const worker = await run(name, files);
      const { socket, next } = await open(worker.runtime);
      invoke(socket, 1, `/${name}`);
      const [hello, result] = await next(2);
      expect(hello?.header).toMatchObject({ t: 'hello', loadError: null });
      expect(result?.header).toMatchObject({ t: 'result', id: 1, statusCode: 200, error: null });
      expect(JSON.parse(result!.body.toString())).toEqual({ esm: true, path: `/${name}` });
    }
  });

  it("shows a function its own environment, not the worker's settings, whether started for it or as a stem cell", async () => {
    const files = {
      'index.js': `exports.handler = async () => ({
        glambdar: Object.keys(process.env).filter((k) => k.startsWith('GLAMBDAR_')),
        greeting: process.env.GREETING,
      });`,
    };
    const direct = await run('env-direct', files, { GREETING: 'hi' });
    const stem = await run('env-stem', files, { GLAMBDAR_STEM: '1' });
    const a = await open(direct.runtime);
    const b = await open(stem.runtime);
    b.socket.write(encodeFrame({ t: 'load', id: 1, env: { GREETING: 'hi' }, interface: null, handler: null } satisfies LoadHeader));
    expect((await b.next(2))[1]?.header).toMatchObject({ t: 'loaded', id: 1, loadError: null });
    invoke(a.socket, 2, '/');
    invoke(b.socket, 2, '/');
    const [, fromDirect] = await a.next(2);
    const [, , fromStem] = await b.next(3);
    expect(JSON.parse(fromDirect!.body.toString())).toEqual({ glambdar: [], greeting: 'hi' });
    expect(JSON.parse(fromStem!.body.toString())).toEqual({ glambdar: [], greeting: 'hi' });
  });

  it('reports an ES module syntax error in hello with the file it is in', async () => {
    const worker = await run('broken', { 'index.mjs': 'export const handler = () => 1;\nfunction broken( {\n' });
    const { next } = await open(worker.runtime);
    const [hello] = await next(1);
    expect((hello?.header as { loadError: string }).loadError).toMatch(/^SyntaxError: .+ \(in index\.mjs\)$/);
  });

  it('on SIGTERM refuses new invocations, finishes the one in flight, then exits 0', async () => {
    const worker = await run('drain', {
      'index.js': `
        const { writeSync } = require('node:fs');
        exports.handler = async () => {
          writeSync(2, 'handler started\\n');
          await new Promise((resolve) => process.once('SIGUSR2', resolve));
          console.log('finished');
          return 'done';
        };`,
    });
    const { socket, next } = await open(worker.runtime);
    invoke(socket, 1, '/slow');
    await worker.waitForStderr('handler started');
    worker.child.kill('SIGTERM');
    await worker.waitForStderr('SIGTERM: draining');
    invoke(socket, 2, '/late');
    const [, refused] = await next(2);
    expect(refused?.header).toMatchObject({ id: 2, statusCode: 503 });
    worker.child.kill('SIGUSR2');
    const [, , done] = await next(3);
    expect(done?.header).toMatchObject({ id: 1, statusCode: 200, stdout: 'finished\n' });
    expect(done?.body.toString()).toBe('done');
    expect(await worker.exited).toBe(0);
  });
});
