import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startWorker, type Worker } from '../worker/server.js';
import { FakeClock } from './clock.js';
import { SandboxUnavailable } from './errors.js';
import { WorkerClient } from './worker-client.js';

let dir: string;
let socketPath: string;
let worker: Worker | undefined;
let client: WorkerClient | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glambdar-client-'));
  await mkdir(join(dir, 'fn'));
  await mkdir(join(dir, 'sock'));
  await writeFile(join(dir, 'fn', 'index.js'), `exports.handler = async () => ({ statusCode: 200, body: 'up' });\n`);
  socketPath = join(dir, 'sock', 'worker.sock');
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await worker?.close();
  worker = undefined;
  await rm(dir, { recursive: true, force: true });
});

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

describe('WorkerClient.connect', () => {
  it('connects as soon as the worker creates its socket, without waiting for a retry timer', async () => {
    // The fake clock never moves: only the watch on the socket folder can wake the retry.
    const clock = new FakeClock();
    const connecting = WorkerClient.connect(socketPath, 30_000, clock);
    // The first attempt fails (no socket yet) and the retry waits on the clock, which never moves.
    await vi.waitFor(() => expect(clock.pending).toBe(1), { timeout: 2_000, interval: 2 });
    worker = await startWorker({ socketPath, fnDir: join(dir, 'fn'), maxLogBytes: 1024, drainTimeoutMs: 100, stem: false });
    client = await within(connecting, 5_000, 'the connection');
    const result = await client.invoke({ method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0));
    expect(result.body.toString()).toBe('up');
    expect(clock.pending).toBe(0);
  });

  it('gives up with SandboxUnavailable once its timeout has passed', async () => {
    const clock = new FakeClock();
    const connecting = WorkerClient.connect(socketPath, 100, clock);
    let outcome: unknown;
    connecting.then(
      () => (outcome = 'connected'),
      (err: unknown) => (outcome = err),
    );
    for (let i = 0; i < 100 && outcome === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      clock.advance(10);
    }
    expect(outcome).toBeInstanceOf(SandboxUnavailable);
    expect((outcome as Error).message).toContain('within 100 ms');
  });
});
