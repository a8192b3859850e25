import { Console } from 'node:console';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, type Frame } from './framing.js';
import { STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES, type CancelHeader, type CreditHeader, type EndHeader, type HeadHeader, type InterfaceName } from './protocol.js';
import { startWorker, type Worker } from './server.js';
import { FakeRuntime, type RuntimeConnection } from './testing/fake-runtime.js';

const dirs: string[] = [];
const open: Array<Worker | FakeRuntime> = [];
const vitestConsole = globalThis.console;
const GLOBALS = ['streamTest'];

beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
  for (const name of GLOBALS) Reflect.deleteProperty(globalThis, name);
});

afterAll(async () => {
  globalThis.console = vitestConsole;
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** What the handlers below tell the test through a global (the worker runs in this process). */
interface Probe {
  pulled: number;
  cancelledAt?: number;
  aborted?: boolean;
}
const probe = (): Probe => (globalThis as unknown as { streamTest: Probe }).streamTest;

async function connect(source: string, iface: InterfaceName | null = null, file = 'index.js'): Promise<RuntimeConnection> {
  (globalThis as unknown as { streamTest: Probe }).streamTest = { pulled: 0 };
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-stream-'));
  dirs.push(dir);
  const fnDir = join(dir, 'fn');
  await mkdir(fnDir);
  await writeFile(join(fnDir, file), source);
  const runtime = await FakeRuntime.listen(join(dir, 'runtime.sock'));
  open.push(runtime);
  const worker = await startWorker({ socketPath: runtime.path, fnDir, maxLogBytes: 4096, drainTimeoutMs: 1000, stem: false, interface: iface });
  open.unshift(worker);
  const client = await runtime.accept();
  await client.next(1); // hello
  return client;
}

/** Waits until a frame `match`es; gives it and everything received until then. */
async function until(client: RuntimeConnection, match: (f: Frame) => boolean): Promise<Frame[]> {
  for (let n = 1; ; n++) {
    const frames = await client.next(n);
    if (match(frames[n - 1]!)) return frames.slice(1);
  }
}

const isEnd = (id: number) => (f: Frame) => (f.header as EndHeader).t === 'end' && (f.header as EndHeader).id === id;
const chunksOf = (frames: Frame[], id: number): Buffer =>
  Buffer.concat(frames.filter((f) => (f.header as { t: string; id: number }).t === 'chunk' && (f.header as { id: number }).id === id).map((f) => f.body));
const settle = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

describe('streamed responses in the worker', () => {
  it('sends a glambdar async iterable as a head, chunks and an end carrying its logs', async () => {
    const client = await connect(`
      exports.handler = async () => ({
        statusCode: 202,
        headers: { 'content-type': 'text/event-stream' },
        body: (async function* () {
          console.log('first');
          yield 'data: 1\\n\\n';
          await new Promise((r) => setTimeout(r, 5));
          yield Buffer.from('data: 2\\n\\n');
          console.error('done');
        })(),
      });`);
    client.invoke(7, '/');
    const frames = await until(client, isEnd(7));
    expect(frames[0]?.header).toEqual({ t: 'head', id: 7, statusCode: 202, headers: { 'content-type': 'text/event-stream' } } satisfies HeadHeader);
    expect(chunksOf(frames, 7).toString()).toBe('data: 1\n\ndata: 2\n\n');
    expect(frames.at(-1)?.header).toMatchObject({ t: 'end', id: 7, stdout: 'first\n', stderr: 'done\n', error: null });
  });

  it('stops pulling the handler at the window and goes on as credits come', async () => {
    const client = await connect(`
      exports.handler = async () => ({
        body: (async function* () {
          for (;;) { globalThis.streamTest.pulled++; yield Buffer.alloc(16 * 1024, 97); }
        })(),
      });`);
    client.invoke(1, '/');
    await client.next(2);
    await settle(100);
    const sent = () => chunksOf(client.frames, 1).length;
    expect(sent()).toBe(STREAM_WINDOW_BYTES);
    // It pulled at most the one chunk it could not send yet.
    expect(probe().pulled).toBeLessThanOrEqual(STREAM_WINDOW_BYTES / (16 * 1024) + 1);
    client.socket.write(encodeFrame({ t: 'credit', id: 1, bytes: 64 * 1024 } satisfies CreditHeader));
    await settle(100);
    expect(sent()).toBe(STREAM_WINDOW_BYTES + 64 * 1024);
    expect(client.frames.every((f) => f.body.length <= STREAM_CHUNK_BYTES)).toBe(true);
    client.socket.write(encodeFrame({ t: 'cancel', id: 1 } satisfies CancelHeader));
    const frames = await until(client, isEnd(1));
    expect(frames.at(-1)?.header).toMatchObject({ t: 'end', id: 1, error: expect.stringMatching(/cancelled/) });
  });

  it('runs several streams at once on the one connection, a stalled one holding up only itself', async () => {
    const client = await connect(`
      exports.handler = async (req) => ({
        body: (async function* () {
          const size = req.path === '/big' ? 1024 * 1024 : 1024;
          for (let sent = 0; sent < size; sent += 16 * 1024) yield Buffer.alloc(Math.min(16 * 1024, size - sent), req.path === '/big' ? 98 : 115);
        })(),
      });`);
    client.invoke(1, '/big');
    client.invoke(2, '/small');
    // The big one spends its window and waits for credits nobody grants; the small one ends.
    const frames = await until(client, isEnd(2));
    expect(chunksOf(frames, 2).length).toBe(1024);
    await settle(50);
    expect(chunksOf(client.frames, 1).length).toBe(STREAM_WINDOW_BYTES);
    expect(client.frames.some(isEnd(1))).toBe(false);
    // Credits for the rest: it ends too.
    client.socket.write(encodeFrame({ t: 'credit', id: 1, bytes: 1024 * 1024 } satisfies CreditHeader));
    await until(client, isEnd(1));
    expect(chunksOf(client.frames, 1).length).toBe(1024 * 1024);
  });

  it('cancels a ReadableStream body and aborts req.signal at once when the runtime cancels', async () => {
    const client = await connect(`
      exports.handler = async (req) => {
        req.signal.addEventListener('abort', () => { globalThis.streamTest.aborted = true; });
        let n = 0;
        return {
          body: new ReadableStream({
            async pull(controller) {
              await new Promise((r) => setTimeout(r, n++ === 0 ? 0 : 10_000));
              controller.enqueue(new TextEncoder().encode('tick '));
            },
            cancel() { globalThis.streamTest.cancelledAt = Date.now(); },
          }),
        };
      };`);
    client.invoke(3, '/');
    await until(client, (f) => (f.header as { t: string }).t === 'chunk');
    const sentAt = Date.now();
    client.socket.write(encodeFrame({ t: 'cancel', id: 3 } satisfies CancelHeader));
    const frames = await until(client, isEnd(3));
    expect(probe().cancelledAt! - sentAt).toBeLessThan(100);
    expect(probe().aborted).toBe(true);
    expect(frames.at(-1)?.header).toMatchObject({ error: expect.stringMatching(/cancelled/) });
    // The worker takes the next invocation.
    client.invoke(4, '/');
    await until(client, (f) => (f.header as { t: string; id: number }).t === 'head' && (f.header as { id: number }).id === 4);
  });

  it('ends a stream whose handler throws midway with the error, after the chunks it sent', async () => {
    const client = await connect(`
      exports.handler = async () => ({
        body: (async function* () { yield 'partial'; throw new Error('lost the database'); })(),
      });`);
    client.invoke(1, '/');
    const frames = await until(client, isEnd(1));
    expect(chunksOf(frames, 1).toString()).toBe('partial');
    expect(frames.at(-1)?.header).toMatchObject({ error: 'lost the database' });
    expect((frames.at(-1)?.header as EndHeader).stderr).toMatch(/lost the database/);
  });

  it('streams a Node Readable body', async () => {
    const client = await connect(`
      const { Readable } = require('node:stream');
      exports.handler = async () => ({ headers: { 'content-type': 'application/x-ndjson' }, body: Readable.from(['{"a":1}\\n', '{"a":2}\\n']) });`);
    client.invoke(1, '/');
    const frames = await until(client, isEnd(1));
    expect(frames[0]?.header).toMatchObject({ t: 'head', headers: { 'content-type': 'application/x-ndjson' } });
    expect(chunksOf(frames, 1).toString()).toBe('{"a":1}\n{"a":2}\n');
  });

  it("streams Lambda's streamifyResponse handler, with HttpResponseStream.from's status and headers", async () => {
    const client = await connect(
      `
      exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
        const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201, headers: { 'x-path': event.rawPath }, cookies: ['a=1'] });
        stream.write('hello ');
        await new Promise((r) => setTimeout(r, 5));
        stream.write(context.awsRequestId);
        stream.end();
      });`,
      'lambda',
    );
    client.invoke(5, '/feed');
    const frames = await until(client, isEnd(5));
    expect(frames[0]?.header).toEqual({
      t: 'head',
      id: 5,
      statusCode: 201,
      headers: { 'x-path': '/feed', 'set-cookie': 'a=1', 'content-type': 'application/octet-stream' },
    } satisfies HeadHeader);
    expect(chunksOf(frames, 5).toString()).toBe('hello req-5');
    expect(frames.at(-1)?.header).toMatchObject({ error: null });
  });

  it("destroys a streaming Lambda handler's responseStream when the runtime cancels", async () => {
    const client = await connect(
      `
      exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
        responseStream.on('close', () => { globalThis.streamTest.cancelledAt = Date.now(); });
        while (!responseStream.destroyed) {
          responseStream.write('tick ');
          await new Promise((r) => setTimeout(r, 20));
        }
      });`,
      'lambda',
    );
    client.invoke(1, '/');
    await until(client, (f) => (f.header as { t: string }).t === 'chunk');
    const sentAt = Date.now();
    client.socket.write(encodeFrame({ t: 'cancel', id: 1 } satisfies CancelHeader));
    const frames = await until(client, isEnd(1));
    expect(probe().cancelledAt! - sentAt).toBeLessThan(100);
    expect(frames.at(-1)?.header).toMatchObject({ error: expect.stringMatching(/cancelled/) });
  });

  it('fails a streaming Lambda handler that throws before writing as a buffered 500, and breaks off one that throws after', async () => {
    const client = await connect(
      `
      exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
        if (event.rawPath === '/early') throw new Error('early');
        responseStream.write('x');
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('late');
      });`,
      'lambda',
    );
    client.invoke(1, '/early');
    const early = await until(client, (f) => (f.header as { t: string }).t === 'result');
    expect(early.at(-1)?.header).toMatchObject({ t: 'result', statusCode: 500, error: 'early' });
    client.invoke(2, '/late');
    const late = await until(client, isEnd(2));
    expect(chunksOf(late, 2).toString()).toBe('x');
    expect(late.at(-1)?.header).toMatchObject({ error: 'late' });
  });

  it('streams a fetch Response whose body is still being produced, and sends one that is whole at once as a result', async () => {
    const client = await connect(
      `
      export default {
        fetch(request) {
          if (new URL(request.url).pathname === '/whole') return new Response('all of it', { status: 203 });
          let n = 0;
          const body = new ReadableStream({
            async pull(controller) {
              await new Promise((r) => setTimeout(r, 5));
              if (n++ === 3) controller.close();
              else controller.enqueue(new TextEncoder().encode('part' + n + ' '));
            },
          });
          return new Response(body, { headers: { 'content-type': 'text/plain' } });
        },
      };`,
      'fetch',
      'index.mjs',
    );
    client.invoke(1, '/whole', undefined, 'GET');
    const whole = await until(client, (f) => (f.header as { t: string }).t === 'result');
    expect(whole.at(-1)?.header).toMatchObject({ t: 'result', statusCode: 203 });
    expect(whole.at(-1)?.body.toString()).toBe('all of it');
    client.invoke(2, '/stream', undefined, 'GET');
    const frames = await until(client, isEnd(2));
    expect(frames.find((f) => (f.header as { t: string }).t === 'head')?.header).toMatchObject({ statusCode: 200, headers: { 'content-type': 'text/plain' } });
    expect(chunksOf(frames, 2).toString()).toBe('part1 part2 part3 ');
  });
});
