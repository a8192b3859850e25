import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeFrame, FrameDecoder, type Frame } from '../../worker/framing.js';
import { PROTOCOL_VERSION, STREAM_WINDOW_BYTES, type HelloHeader, type InvokeHeader } from '../../worker/protocol.js';
import { FakeClock, systemClock, type Clock } from '../support/clock.js';
import { ContainerDied } from '../support/errors.js';
import { FrameBudget } from './frame-budget.js';
import type { ResponseStream, StreamEnd, StreamSink } from './response-stream.js';
import type { WorkerClient } from './worker-client.js';
import { CANCEL_GRACE_MS } from './cancelled-streams.js';
import { WorkerListener } from './worker-listener.js';

let dir: string;
let listener: WorkerListener | undefined;
let client: WorkerClient | undefined;
const raw: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glambdar-client-stream-'));
});

afterEach(async () => {
  client?.close();
  client = undefined;
  listener?.close();
  listener = undefined;
  for (const s of raw.splice(0)) s.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** A scripted worker on a raw connection, and the client the runtime made of it. */
async function connected(clock: Clock = systemClock): Promise<{ frames: Frame[]; write(header: unknown, body?: Buffer): void; client: WorkerClient }> {
  const path = join(dir, 'runtime.sock');
  listener = await WorkerListener.listen(path, { clock, budget: new FrameBudget({ perFunction: 1 << 20, total: 1 << 22 }), budgetKey: 'f' });
  const accepting = listener.accept(5_000, systemClock);
  const socket = connect(path);
  raw.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  socket.write(encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, pid: 1, loadError: null, stem: false, interface: 'glambdar' } satisfies HelloHeader));
  client = await accepting;
  return { frames, write: (header, body) => socket.write(encodeFrame(header, body)), client };
}

const request = { method: 'GET', path: '/', query: {}, headers: {} };

function collector(): StreamSink & { text: () => string; ended: Array<string | null> } {
  const chunks: Buffer[] = [];
  const ended: Array<string | null> = [];
  return { write: (c) => (chunks.push(Buffer.from(c)), true), end: (e) => ended.push(e), text: () => Buffer.concat(chunks).toString(), ended };
}

async function firstInvoke(frames: Frame[]): Promise<number> {
  await vi.waitFor(() => expect(frames.length).toBeGreaterThan(0), { timeout: 2_000, interval: 2 });
  return (frames[0]!.header as InvokeHeader).id;
}

/** An invocation the scripted worker answers with a stream head: its id and the runtime's stream. */
async function openStream(worker: Awaited<ReturnType<typeof connected>>): Promise<{ id: number; stream: ResponseStream }> {
  const answering = worker.client.invoke(request, Buffer.alloc(0));
  const id = await firstInvoke(worker.frames);
  worker.write({ t: 'head', id, statusCode: 200, headers: {} });
  return { id, stream: (await answering).stream! };
}

describe('WorkerClient streams', () => {
  it('answers with a stream at the head, delivers its chunks, credits the worker and ends with its logs', async () => {
    const worker = await connected();
    const answering = worker.client.invoke(request, Buffer.alloc(0));
    const id = await firstInvoke(worker.frames);
    worker.write({ t: 'head', id, statusCode: 201, headers: { 'content-type': 'text/event-stream', 'Transfer-Encoding': 'chunked' } });
    const answer = await answering;
    expect(answer.statusCode).toBe(201);
    // Hop-by-hop headers a handler set are dropped from a stream's head as from a result.
    expect(answer.headers).toEqual({ 'content-type': 'text/event-stream' });
    const stream = answer.stream!;
    const sink = collector();
    stream.attach(sink);
    expect(worker.client.inFlight).toBe(1);
    worker.write({ t: 'chunk', id }, Buffer.alloc(STREAM_WINDOW_BYTES / 2, 120));
    worker.write({ t: 'end', id, stdout: 'out', stderr: '', error: null, durationMs: 5 });
    const end = await new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
    expect(end).toEqual({ error: null, stdout: 'out', stderr: '', durationMs: 5, bytes: STREAM_WINDOW_BYTES / 2 });
    expect(sink.ended).toEqual([null]);
    expect(worker.client.inFlight).toBe(0);
    await vi.waitFor(() => expect(worker.frames.some((f) => (f.header as { t: string }).t === 'credit')).toBe(true), { timeout: 2_000, interval: 2 });
    expect(worker.frames.find((f) => (f.header as { t: string }).t === 'credit')?.header).toEqual({ t: 'credit', id, bytes: STREAM_WINDOW_BYTES / 2 });
  });

  it('ends the connection of a worker that sends beyond its credits', async () => {
    const worker = await connected();
    const { id, stream } = await openStream(worker);
    // No sink: nothing is credited, so the window is all the worker may send.
    worker.write({ t: 'chunk', id }, Buffer.alloc(STREAM_WINDOW_BYTES));
    worker.write({ t: 'chunk', id }, Buffer.alloc(1));
    await vi.waitFor(() => expect(worker.client.closed).toBe(true), { timeout: 2_000, interval: 2 });
    expect(worker.client.closeReason).toMatch(/beyond its credits/);
    const end = await new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
    expect(end.error).toMatch(/beyond its credits/);
  });

  it('sends a cancel, and drops the late chunks of the cancelled stream until its end', async () => {
    const worker = await connected();
    const { id, stream } = await openStream(worker);
    stream.attach(collector());
    stream.cancel('the client went away');
    await vi.waitFor(() => expect(worker.frames.some((f) => (f.header as { t: string }).t === 'cancel')).toBe(true), { timeout: 2_000, interval: 2 });
    expect(worker.client.inFlight).toBe(0);
    worker.write({ t: 'chunk', id }, Buffer.from('late'));
    worker.write({ t: 'end', id, stdout: '', stderr: '', error: 'the stream was cancelled', durationMs: 1 });
    // The connection lives on and serves the next invocation.
    const next = worker.client.invoke(request, Buffer.alloc(0));
    await vi.waitFor(() => expect(worker.frames.filter((f) => (f.header as { t: string }).t === 'invoke').length).toBe(2), { timeout: 2_000, interval: 2 });
    const nextId = (worker.frames.filter((f) => (f.header as { t: string }).t === 'invoke')[1]!.header as InvokeHeader).id;
    worker.write({ t: 'result', id: nextId, statusCode: 200, headers: {}, stdout: '', stderr: '', error: null, errorCode: null, durationMs: 1 }, Buffer.from('ok'));
    expect((await next).body.toString()).toBe('ok');
    expect(worker.client.closed).toBe(false);
  });

  it('records a cancelled stream with what its handler printed, from the end the worker sends after the cancel', async () => {
    const worker = await connected();
    const { id, stream } = await openStream(worker);
    const client = collector();
    stream.attach(client);
    const ended = new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
    stream.cancel('the client went away');
    expect(client.ended).toEqual(['the client went away']);
    await vi.waitFor(() => expect(worker.frames.some((f) => (f.header as { t: string }).t === 'cancel')).toBe(true), { timeout: 2_000, interval: 2 });
    worker.write({ t: 'end', id, stdout: 'event 1 sent\n', stderr: '', error: 'the stream was cancelled', durationMs: 7 });
    expect(await ended).toMatchObject({ error: 'the client went away', stdout: 'event 1 sent\n', durationMs: 7 });
  });

  it('ends a cancelled stream without its logs when the worker sends no end within the grace', async () => {
    const clock = new FakeClock();
    const worker = await connected(clock);
    const { id, stream } = await openStream(worker);
    stream.attach(collector());
    const ends: StreamEnd[] = [];
    stream.onEnd((end) => ends.push(end));
    stream.cancel('timed out');
    clock.advance(CANCEL_GRACE_MS - 1);
    expect(ends).toEqual([]);
    clock.advance(1);
    expect(ends).toMatchObject([{ error: 'timed out', stdout: '', durationMs: null }]);
    // A late end is still the worker's right: the connection lives on.
    worker.write({ t: 'end', id, stdout: 'late\n', stderr: '', error: null, durationMs: 9 });
    await new Promise((r) => setTimeout(r, 20));
    expect(worker.client.closed).toBe(false);
    expect(ends.length).toBe(1);
  });

  it('ends the connection of a worker that sends a chunk of a stream it never started', async () => {
    const worker = await connected();
    void worker.client.invoke(request, Buffer.alloc(0)).catch(() => undefined);
    const id = await firstInvoke(worker.frames);
    worker.write({ t: 'chunk', id }, Buffer.from('x'));
    await vi.waitFor(() => expect(worker.client.closed).toBe(true), { timeout: 2_000, interval: 2 });
    expect(worker.client.closeReason).toMatch(/chunk of a stream/);
  });

  it('fails a stream in flight when the connection drops', async () => {
    const worker = await connected();
    const { stream } = await openStream(worker);
    const sink = collector();
    stream.attach(sink);
    raw[0]!.destroy();
    const end = await new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
    expect(end.error).toBe(new ContainerDied('the function container closed its connection').message);
    expect(sink.ended.length).toBe(1);
  });
});
