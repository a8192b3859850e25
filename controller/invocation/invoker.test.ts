import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHook } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../../schemas/index.js';
import { systemClock, type Clock } from '../support/clock.js';
import type { GlambdarError } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import type { Runtime } from '../runtime.js';
import { openRuntime } from '../wiring.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';

let dir: string;
let sandbox: FakeSandbox;
let runtime: Runtime;
/** What the runtime's `monotonic()` reads: durations move only when a test moves this. */
let elapsedMs: number;

const STATUS: Record<string, number> = { RATE_LIMITED: 429, HANDLER_ERROR: 500, SANDBOX_UNAVAILABLE: 503 };

const invoke = (name: string, path = '/') => runtime.invoke(name, { method: 'GET', path, query: {}, headers: {} }, Buffer.alloc(0));
const deploy = (name: string, patch: Record<string, unknown> = {}) =>
  runtime.deploy({ name, code: { kind: 'folder', path: join(dir, 'code') }, patch });
const metricsOf = (name: string) => runtime.metricsSnapshot().invocations.find((s) => s.name === name);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-invoker-'));
  await mkdir(join(dir, 'code'));
  await writeFile(
    join(dir, 'code', 'index.js'),
    `exports.handler = async (req) => {
      if (req.path === '/throw') throw new Error('thrown on purpose');
      return { statusCode: req.path === '/missing' ? 404 : 200, body: 'hi' };
    };\n`,
  );
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  elapsedMs = 0;
  // Real timers and wall time (the pool and the reconciler run for real); durations are ours.
  const clock: Clock = { ...systemClock, monotonic: () => elapsedMs };
  runtime = await openRuntime({
    config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells: 0 }),
    statusOf: (err: GlambdarError) => STATUS[err.code] ?? 500,
    sandbox,
    clock,
    log: silentLogger,
  });
  await runtime.start();
});

afterEach(async () => {
  await runtime.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('Invoker metrics', () => {
  it('times what the caller waited, the container start of a cold invocation included', async () => {
    await deploy('echo');
    // The container takes 40 ms to start; the handler itself takes no time on this clock.
    sandbox.failStart = () => {
      sandbox.failStart = null;
      elapsedMs += 40;
      return undefined;
    };
    expect((await invoke('echo')).coldStart).toBe(true);
    expect((await invoke('echo')).coldStart).toBe(false);
    const echo = metricsOf('echo');
    expect(echo).toMatchObject({ count: 2, coldStarts: 1, sumSeconds: 0.04, responses: [{ code: 200, count: 2 }] });
    const le = Object.fromEntries(echo!.buckets.map((b) => [String(b.le), b.count]));
    expect(le).toMatchObject({ '0.0005': 1, '0.025': 1, '0.05': 2, Infinity: 2 });
  });

  it("counts a handler's own status and a handler that threw under the status the caller got", async () => {
    await deploy('echo');
    await invoke('echo');
    await invoke('echo', '/missing');
    await expect(invoke('echo', '/throw')).rejects.toMatchObject({ code: 'HANDLER_ERROR' });
    expect(metricsOf('echo')?.responses).toEqual([
      { code: 200, count: 1 },
      { code: 404, count: 1 },
      { code: 500, count: 1 },
    ]);
  });

  it('counts the invocations no container took, which the invocation log does not record', async () => {
    await deploy('limited', { rateLimit: 1 });
    // The limiter is consulted before the first await: the second call finds the bucket empty.
    const first = invoke('limited');
    await expect(invoke('limited')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await first;
    await deploy('down');
    sandbox.down = true;
    await expect(invoke('down')).rejects.toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
    sandbox.down = false;
    expect(metricsOf('limited')).toMatchObject({ count: 2, coldStarts: 1, responses: [{ code: 200, count: 1 }, { code: 429, count: 1 }] });
    expect(metricsOf('down')).toMatchObject({ count: 1, coldStarts: 0, responses: [{ code: 503, count: 1 }] });
    expect(runtime.logs('limited', { limit: 10 }).map((r) => r.statusCode)).toEqual([200]);
  });

  it('keeps no series for names that are not functions, and drops a deleted function', async () => {
    await expect(invoke('ghost')).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    await deploy('echo');
    await deploy('other');
    await invoke('echo');
    await invoke('other');
    await runtime.remove('echo');
    expect(runtime.metricsSnapshot().invocations.map((s) => s.name)).toEqual(['other']);
  });
});

describe('Invoker.start, the HTTP path', () => {
  const request = { method: 'GET', path: '/', query: {}, headers: {} };

  /** A reply that records its one end, and a promise of it. */
  function recording(done?: () => void) {
    const ends: Array<['done', number] | ['failed', unknown]> = [];
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const reply = {
      done(outcome: { statusCode: number }) {
        ends.push(['done', outcome.statusCode]);
        settle();
        done?.();
      },
      failed(err: unknown) {
        ends.push(['failed', err]);
        settle();
      },
    };
    return { ends, ended, reply };
  }

  it('makes no promise on its way to a warm replica', async () => {
    await deploy('echo');
    await invoke('echo');
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) });
    const { ends, ended, reply } = recording();
    hook.enable();
    try {
      runtime.startInvoke('echo', request, Buffer.alloc(0), undefined, reply);
    } finally {
      hook.disable();
    }
    // invoke() as an async function made its own promise and one for the worker's answer here.
    expect(promises).toBe(0);
    await ended;
    expect(ends).toEqual([['done', 200]]);
  });

  it('tells the reply before its own bookkeeping: the caller does not wait for the release, the record or the metrics', async () => {
    await deploy('echo');
    await invoke('echo');
    const seenInDone: Array<number | undefined> = [];
    const { ends, ended, reply } = recording(() => seenInDone.push(metricsOf('echo')?.count));
    runtime.startInvoke('echo', request, Buffer.alloc(0), undefined, reply);
    await ended;
    expect(ends).toEqual([['done', 200]]);
    // While the reply wrote its answer, the invocation was not yet counted; right after, it was.
    expect(seenInDone).toEqual([1]);
    expect(metricsOf('echo')).toMatchObject({ count: 2 });
    expect((await invoke('echo')).coldStart).toBe(false);
  });

  it("tells a reply of a refusal at once, and a reply whose own done throws gets failed, the worker's connection unharmed", async () => {
    const refused = recording();
    runtime.startInvoke('ghost', request, Buffer.alloc(0), undefined, refused.reply);
    expect(refused.ends).toEqual([['failed', expect.objectContaining({ code: 'FUNCTION_NOT_FOUND' })]]);
    await deploy('echo');
    await invoke('echo');
    const throwing = recording(() => {
      throw new Error('the response could not be written');
    });
    runtime.startInvoke('echo', request, Buffer.alloc(0), undefined, throwing.reply);
    await throwing.ended;
    await vi.waitFor(() => expect(throwing.ends).toHaveLength(2));
    expect(throwing.ends[1]).toEqual(['failed', expect.objectContaining({ message: 'the response could not be written' })]);
    // The same warm container answers the next one: the throw did not break its connection.
    expect((await invoke('echo')).coldStart).toBe(false);
    expect(metricsOf('echo')).toMatchObject({ count: 3, responses: [{ code: 200, count: 3 }] });
  });
});
