import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, FrameDecoder, FrameWriter, type Frame } from '../../worker/framing.js';
import { PROTOCOL_VERSION, type HelloHeader, type InvokeHeader } from '../../worker/protocol.js';
import { startWorker, type Worker } from '../../worker/server.js';
import { FakeClock, systemClock, type Clock } from '../support/clock.js';
import { ContainerDied, SandboxUnavailable } from '../support/errors.js';
import { FrameBudget } from './frame-budget.js';
import { FRAME_STALL_MS, type WorkerClient } from './worker-client.js';
import { WorkerListener } from './worker-listener.js';

let dir: string;
let socketPath: string;
let worker: Worker | undefined;
let listener: WorkerListener | undefined;
let client: WorkerClient | undefined;
const raw: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glambdar-client-'));
  await mkdir(join(dir, 'fn'));
  await mkdir(join(dir, 'sock'));
  await writeFile(join(dir, 'fn', 'index.js'), `exports.handler = async () => ({ statusCode: 200, body: 'up' });\n`);
  socketPath = join(dir, 'sock', 'runtime.sock');
});

afterEach(async () => {
  client?.close();
  client = undefined;
  listener?.close();
  listener = undefined;
  for (const s of raw.splice(0)) s.destroy();
  await worker?.close();
  worker = undefined;
  await rm(dir, { recursive: true, force: true });
});

function context(clock: Clock = systemClock, budget = new FrameBudget({ perFunction: 1 << 20, total: 1 << 22 }), budgetKey = 'f') {
  return { clock, budget, budgetKey };
}

/** Settles with the promise, or rejects once `ms` of real time have passed. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

/** A hostile "worker": a raw connection that says hello, then writes whatever a test wants. */
async function fakeWorker(path: string): Promise<{ socket: Socket; frames: Frame[]; decoder: FrameDecoder; write(header: unknown, body?: Buffer, form?: 'json' | 'binary'): void }> {
  const socket = connect(path);
  raw.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  const hello: HelloHeader = { t: 'hello', v: PROTOCOL_VERSION, pid: 1, loadError: null, stem: false, interface: 'glambdar' };
  socket.write(encodeFrame(hello));
  const binary = new FrameWriter((chunk) => socket.write(chunk));
  binary.binary = true;
  const write = (header: unknown, body?: Buffer, form: 'json' | 'binary' = 'json') => {
    if (form === 'json') return void socket.write(encodeFrame(header, body));
    binary.write(header, body);
  };
  return { socket, frames, decoder, write };
}

const request = { method: 'GET', path: '/', query: {}, headers: {} };
const result = (id: number, extra: Record<string, unknown> = {}) => ({
  t: 'result',
  id,
  statusCode: 200,
  headers: {},
  stdout: '',
  stderr: '',
  error: null,
  errorCode: null,
  durationMs: 1,
  ...extra,
});

/** The id of the n-th invoke frame the fake worker received. */
async function invokeId(frames: Frame[], n = 0): Promise<number> {
  await vi.waitFor(() => expect(frames.length).toBeGreaterThan(n), { timeout: 2_000, interval: 2 });
  return (frames[n]!.header as InvokeHeader).id;
}

describe('WorkerListener', () => {
  it('hands over the worker that connects to its socket, and serves its invocations', async () => {
    listener = await WorkerListener.listen(socketPath, context());
    worker = await startWorker({ socketPath, fnDir: join(dir, 'fn'), maxLogBytes: 1024, drainTimeoutMs: 100, stem: false });
    client = await within(listener.accept(5_000, systemClock), 5_000, 'the connection');
    const answer = await client.invoke(request, Buffer.alloc(0));
    expect(answer.body.toString()).toBe('up');
  });

  it('takes one connection only: its socket file is gone once the worker connected', async () => {
    listener = await WorkerListener.listen(socketPath, context());
    const accepting = listener.accept(5_000, systemClock);
    await fakeWorker(socketPath);
    client = await accepting;
    expect(existsSync(socketPath)).toBe(false);
    const second = connect(socketPath);
    raw.push(second);
    await expect(new Promise((resolve, reject) => second.once('connect', resolve).once('error', reject))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives up with SandboxUnavailable once its timeout has passed', async () => {
    const clock = new FakeClock();
    listener = await WorkerListener.listen(socketPath, context(clock));
    const accepting = listener.accept(100, clock);
    clock.advance(100);
    await expect(accepting).rejects.toBeInstanceOf(SandboxUnavailable);
    await expect(accepting).rejects.toThrow('within 100 ms');
  });

  it('refuses a worker of another protocol version', async () => {
    listener = await WorkerListener.listen(socketPath, context());
    const accepting = listener.accept(5_000, systemClock);
    const socket = connect(socketPath);
    raw.push(socket);
    socket.on('error', () => undefined);
    socket.write(encodeFrame({ t: 'hello', v: PROTOCOL_VERSION + 1, pid: 1, loadError: null, stem: false }));
    await expect(accepting).rejects.toThrow(`speaks protocol ${PROTOCOL_VERSION + 1}`);
  });
});

describe('WorkerClient writes', () => {
  it("sends an invoke at once on a quiet connection, and joins the turn's one write otherwise", async () => {
    listener = await WorkerListener.listen(socketPath, context());
    const accepting = listener.accept(5_000, systemClock);
    const fake = await fakeWorker(socketPath);
    client = await accepting;
    const writes = vi.spyOn(Socket.prototype, 'write');
    const ours = () => writes.mock.contexts.filter((socket) => socket !== fake.socket).length;
    try {
      const first = client.invoke(request, Buffer.from('1'));
      // Written before send returned: the worker can start while this turn goes on.
      expect(ours()).toBe(1);
      const second = client.invoke(request, Buffer.from('2'));
      const third = client.invoke(request, Buffer.from('3'));
      expect(ours()).toBe(1);
      await vi.waitFor(() => expect(fake.frames).toHaveLength(3), { timeout: 2_000, interval: 2 });
      // The two sent while the first was in flight left in one write at the turn's end.
      expect(ours()).toBe(2);
      expect(fake.frames.map((f) => f.body.toString())).toEqual(['1', '2', '3']);
      for (const frame of fake.frames) fake.write(result((frame.header as InvokeHeader).id));
      await Promise.all([first, second, third]);
      // Alone again, but just after a write of two: the first request of a burst waits for the
      // turn's end as the rest would; once a write carried one frame, the next leaves at once.
      const fourth = client.invoke(request, Buffer.from('4'));
      expect(ours()).toBe(2);
      fake.write(result(await invokeId(fake.frames, 3)));
      await fourth;
      expect(ours()).toBe(3);
      const fifth = client.invoke(request, Buffer.from('5'));
      expect(ours()).toBe(4);
      fake.write(result(await invokeId(fake.frames, 4)));
      await fifth;
    } finally {
      writes.mockRestore();
    }
  });
});

describe('WorkerClient takes nothing on trust from the worker', () => {
  async function connected(clock: Clock = systemClock, budget?: FrameBudget) {
    listener = await WorkerListener.listen(socketPath, context(clock, budget));
    const accepting = listener.accept(5_000, systemClock);
    const fake = await fakeWorker(socketPath);
    client = await accepting;
    return fake;
  }

  it('drops reserved headers whatever their case, and merges a name given in two cases', async () => {
    const fake = await connected();
    const answer = client!.invoke(request, Buffer.alloc(0));
    const id = await invokeId(fake.frames);
    fake.write(
      result(id, {
        headers: {
          'Transfer-Encoding': 'chunked',
          'Content-Length': '999',
          Connection: 'close',
          'X-Glambdar-Request-Id': 'forged',
          'Set-Cookie': 'a=1',
          'set-cookie': ['b=2'],
          'x-kept': 'yes',
        },
      }),
      Buffer.from('body'),
    );
    expect((await answer).headers).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'x-kept': 'yes' });
  });

  it.each(
    (['json', 'binary'] as const).flatMap((form) => [
      [`an interim status (101), ${form}`, form, { statusCode: 101 }],
      [`a status past 599, ${form}`, form, { statusCode: 600 }],
      [`a fractional status, ${form}`, form, { statusCode: 200.5 }],
      [`a header name that is not a token, ${form}`, form, { headers: { 'bad name': 'x' } }],
      [`a header value with a newline, ${form}`, form, { headers: { 'x-split': 'a\r\nx-injected: 1' } }],
      [`an unknown error code, ${form}`, form, { error: 'x', errorCode: 'SOMETHING_ELSE' }],
    ]),
  )('ends the connection on %s, failing the request with why', async (_what, form, extra) => {
    const fake = await connected();
    const answer = client!.invoke(request, Buffer.alloc(0));
    const id = await invokeId(fake.frames);
    fake.write(result(id, extra), undefined, form);
    await expect(answer).rejects.toBeInstanceOf(ContainerDied);
    await expect(answer).rejects.toThrow(/broke the protocol: it sent an invalid frame/);
    expect(client!.closed).toBe(true);
  });

  it('sends its invokes in the binary form, and takes a binary result as a JSON one', async () => {
    const fake = await connected();
    const answer = client!.invoke({ method: 'PUT', path: '/p', query: { q: ['1', '2'] }, headers: { 'x-a': 'é' } }, Buffer.from('in'));
    const id = await invokeId(fake.frames);
    expect(fake.decoder.binary).toBe(true);
    expect(fake.frames[0]!.header).toMatchObject({ t: 'invoke', id, method: 'PUT', path: '/p', query: { q: ['1', '2'] }, headers: { 'x-a': 'é' } });
    fake.write(result(id, { statusCode: 202, headers: { 'x-b': ['1', '2'] }, stdout: 'said' }), Buffer.from('out'), 'binary');
    expect(await answer).toMatchObject({ statusCode: 202, headers: { 'x-b': ['1', '2'] }, stdout: 'said' });
    expect((await answer).body.toString()).toBe('out');
  });

  it('ends the connection on a malformed binary header, failing the request with why', async () => {
    const fake = await connected();
    const answer = client!.invoke(request, Buffer.alloc(0));
    await invokeId(fake.frames);
    const frame = encodeFrame({ t: 'result' });
    frame[8] = 2;
    fake.socket.write(frame);
    await expect(answer).rejects.toThrow(/sent a malformed frame: binary frame header ends early/);
    expect(client!.closed).toBe(true);
  });

  it('ends the connection on an answer to a request nobody made, or a second hello', async () => {
    const fake = await connected();
    const answer = client!.invoke(request, Buffer.alloc(0));
    const id = await invokeId(fake.frames);
    fake.write(result(id + 100));
    await expect(answer).rejects.toThrow(`answered a request ${id + 100} nobody asked for`);

    const again = await connectedAgain();
    again.write({ t: 'hello', v: PROTOCOL_VERSION, pid: 2, loadError: null, stem: false, interface: null });
    await vi.waitFor(() => expect(client!.closeReason).toMatch(/said hello twice/), { timeout: 2_000, interval: 2 });
  });

  async function connectedAgain() {
    client?.close();
    await rm(socketPath, { force: true });
    return connected();
  }

  it('ends the connection when the worker sends more than an output frame while nothing is asked of it', async () => {
    const fake = await connected();
    fake.socket.write(encodeFrame(result(1), Buffer.alloc(256 * 1024)).subarray(0, 200 * 1024));
    await vi.waitFor(() => expect(client!.closed).toBe(true), { timeout: 2_000, interval: 2 });
    expect(client!.closeReason).toMatch(/sent data nobody asked for/);
  });

  it('hands output printed outside invocations to its listener, what came before the listener included', async () => {
    const fake = await connected();
    fake.write({ t: 'output', stream: 'stdout', text: 'loaded\n' });
    fake.write({ t: 'output', stream: 'stderr', text: 'a timer\n' });
    await vi.waitFor(() => expect(client!.inFlight).toBe(0), { timeout: 2_000, interval: 2 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const heard: string[] = [];
    client!.onOutput((stream, text) => heard.push(`${stream} ${text}`));
    fake.write({ t: 'output', stream: 'stdout', text: 'later\n' });
    await vi.waitFor(() => expect(heard).toEqual(['stdout loaded\n', 'stderr a timer\n', 'stdout later\n']), { timeout: 2_000, interval: 2 });
    expect(client!.closed).toBe(false);
    // An invocation still works on the same connection.
    const answer = client!.invoke(request, Buffer.alloc(0));
    fake.write(result(await invokeId(fake.frames)), Buffer.from('ok'));
    expect((await answer).body.toString()).toBe('ok');
  });

  it('takes an output frame sent in the same write as the hello', async () => {
    listener = await WorkerListener.listen(socketPath, context());
    const accepting = listener.accept(5_000, systemClock);
    const socket = connect(socketPath);
    raw.push(socket);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const hello: HelloHeader = { t: 'hello', v: PROTOCOL_VERSION, pid: 1, loadError: null, stem: false, interface: 'glambdar' };
    socket.write(Buffer.concat([encodeFrame(hello), encodeFrame({ t: 'output', stream: 'stdout', text: 'at load\n' })]));
    client = await accepting;
    const heard: string[] = [];
    client.onOutput((_stream, text) => heard.push(text));
    await vi.waitFor(() => expect(heard).toEqual(['at load\n']), { timeout: 2_000, interval: 2 });
    expect(client.closed).toBe(false);
  });

  it(`ends the connection when a frame stays unfinished for ${FRAME_STALL_MS} ms`, async () => {
    const clock = new FakeClock();
    const fake = await connected(clock);
    const answer = client!.invoke(request, Buffer.alloc(0));
    const id = await invokeId(fake.frames);
    fake.socket.write(encodeFrame(result(id), Buffer.alloc(1000)).subarray(0, 500));
    await vi.waitFor(() => expect(clock.pending).toBeGreaterThan(0), { timeout: 2_000, interval: 2 });
    clock.advance(FRAME_STALL_MS - 1);
    expect(client!.closed).toBe(false);
    clock.advance(1);
    await expect(answer).rejects.toThrow(`left a frame unfinished for ${FRAME_STALL_MS} ms`);
  });

  it('pauses the smaller of two connections past the function budget, and reads it again once the larger finished', async () => {
    const budget = new FrameBudget({ perFunction: 64 * 1024, total: 1 << 30 });
    const one = await connected(systemClock, budget);
    const first = client!;
    const firstAnswer = first.invoke(request, Buffer.alloc(0));
    const firstFrame = encodeFrame(result(await invokeId(one.frames)), Buffer.alloc(512 * 1024, 1));
    one.socket.write(firstFrame.subarray(0, 200 * 1024));
    await vi.waitFor(() => expect(budget.held('f')).toBe(200 * 1024 - 0), { timeout: 2_000, interval: 2 });

    // A second connection of the same function (another replica), listening on its own socket.
    const otherPath = join(dir, 'sock', 'other.sock');
    const otherListener = await WorkerListener.listen(otherPath, context(systemClock, budget));
    const accepting = otherListener.accept(5_000, systemClock);
    const two = await fakeWorker(otherPath);
    const second = await accepting;
    try {
      const secondAnswer = second.invoke(request, Buffer.alloc(0));
      const secondFrame = encodeFrame(result(await invokeId(two.frames)), Buffer.alloc(2 * 1024 * 1024, 2));
      two.socket.write(secondFrame.subarray(0, 1024 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Read a chunk or two, then paused: nowhere near the megabyte its worker wrote.
      expect(budget.held('f') - 200 * 1024).toBeLessThan(256 * 1024);
      expect(budget.held('f') - 200 * 1024).toBeGreaterThan(0);

      one.socket.write(firstFrame.subarray(200 * 1024));
      expect((await firstAnswer).body.length).toBe(512 * 1024);
      two.socket.write(secondFrame.subarray(1024 * 1024));
      expect((await secondAnswer).body.length).toBe(2 * 1024 * 1024);
      expect(budget.held()).toBe(0);
    } finally {
      second.close();
      otherListener.close();
    }
  });
});
