import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../../schemas/index.js';
import { systemClock } from '../support/clock.js';
import type { GlambdarError } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import type { Runtime } from '../runtime.js';
import { openRuntime } from '../wiring.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import type { StreamEnd, StreamSink } from '../pool/response-stream.js';

/**
 * Streamed invocations through the whole runtime (the real worker, as a child process, over the
 * real socket): the slot stays taken until the stream ends, `timeoutMs` bounds the stream, and
 * the record has the bytes sent and the time to the head.
 */
let dir: string;
let sandbox: FakeSandbox;
let runtime: Runtime;

const HANDLER = `exports.handler = async (req) => ({
  headers: { 'content-type': 'text/plain' },
  body: (async function* () {
    yield 'one ';
    await new Promise((r) => setTimeout(r, 30));
    yield 'two';
    if (req.path === '/hang') await new Promise(() => {});
  })(),
});
`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-invoker-stream-'));
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'index.js'), HANDLER);
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  runtime = await openRuntime({
    config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells: 0 }),
    statusOf: (err: GlambdarError) => (err.code === 'INVOCATION_TIMEOUT' ? 504 : 500),
    sandbox,
    clock: systemClock,
    log: silentLogger,
  });
  await runtime.start();
  await runtime.deploy({ name: 'feed', code: { kind: 'folder', path: join(dir, 'code') }, patch: { timeoutMs: 400, maxReplicas: 1 } });
});

afterEach(async () => {
  await runtime.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

function collect(): StreamSink & { text: string; ended: Array<string | null> } {
  const sink = {
    text: '',
    ended: [] as Array<string | null>,
    write(chunk: Buffer) {
      sink.text += chunk.toString();
      return true;
    },
    end(error: string | null) {
      sink.ended.push(error);
    },
  };
  return sink;
}

const busy = () => runtime.info('feed').status.containers.reduce((n, c) => n + c.inFlight, 0);

describe('streamed invocations', () => {
  it('keeps the slot until the stream ends, then records the bytes sent and the time to the head', async () => {
    const outcome = await runtime.invoke('feed', { method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0));
    const stream = outcome.stream!;
    expect(outcome.statusCode).toBe(200);
    expect(outcome.headers['content-type']).toBe('text/plain');
    expect(busy()).toBe(1);
    const sink = collect();
    const ended = new Promise<StreamEnd>((resolve) => stream.onEnd(resolve));
    stream.attach(sink);
    await ended;
    expect(sink.text).toBe('one two');
    expect(sink.ended).toEqual([null]);
    expect(busy()).toBe(0);
    const [record] = runtime.logs('feed', { limit: 1 });
    expect(record).toMatchObject({ requestId: outcome.requestId, statusCode: 200, error: null, bytesSent: 7 });
    expect(record!.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(record!.ttfbMs).toBeLessThanOrEqual(record!.durationMs + 1000);
  });

  it('breaks off a stream past timeoutMs, frees its slot and records the timeout, without replacing the container', async () => {
    const outcome = await runtime.invoke('feed', { method: 'GET', path: '/hang', query: {}, headers: {} }, Buffer.alloc(0));
    const before = runtime.info('feed').status.containers.map((c) => c.id);
    expect(before.length).toBe(1);
    const sink = collect();
    outcome.stream!.attach(sink);
    await vi.waitFor(() => expect(sink.ended.length).toBe(1), { timeout: 3_000, interval: 10 });
    expect(sink.text).toBe('one two');
    expect(sink.ended[0]).toMatch(/400 ms/);
    // The client's response ends at the timeout; the slot (and the record) wait for the worker's
    // end frame, which answers the cancel a moment later.
    await vi.waitFor(() => expect(busy()).toBe(0), { timeout: 3_000, interval: 10 });
    const [record] = runtime.logs('feed', { limit: 1 });
    expect(record?.error).toMatch(/broke off after 7 bytes: .*400 ms/);
    expect(runtime.info('feed').status.containers.map((c) => c.id)).toEqual(before);
    // The same container answers the next one.
    const next = await runtime.invoke('feed', { method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0));
    const again = collect();
    next.stream!.attach(again);
    await vi.waitFor(() => expect(again.ended).toEqual([null]), { timeout: 3_000, interval: 10 });
  });
});
