import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { TerminalError } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import { WorkQueue, type ReconcileFn, type WorkQueueOptions } from './workqueue.js';

/** Lets every pending promise callback run (reconciles are async). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

function makeQueue(reconcile: ReconcileFn, options: Partial<WorkQueueOptions> = {}) {
  const clock = new FakeClock(1_000);
  const queue = new WorkQueue({ reconcile, clock, log: silentLogger, ...options });
  return { clock, queue };
}

describe('WorkQueue', () => {
  it('reconciles a key added three times while queued only once', async () => {
    const blocker = gate();
    const calls: string[] = [];
    const { queue } = makeQueue(
      async (key) => {
        calls.push(key);
        if (key === 'busy') await blocker.promise;
      },
      { workers: 1 },
    );
    queue.add('busy');
    queue.add('a');
    queue.add('a');
    queue.add('a');
    expect(queue.length).toBe(2);
    blocker.open();
    await queue.idle();
    expect(calls).toEqual(['busy', 'a']);
  });

  it('never runs one key twice at once, and a key added while processing is reconciled exactly once more', async () => {
    const gates = [gate(), gate()];
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const { queue } = makeQueue(async () => {
      const mine = gates[calls++];
      running++;
      maxRunning = Math.max(maxRunning, running);
      await mine?.promise;
      running--;
    });
    queue.add('a');
    await flush();
    expect(calls).toBe(1);
    queue.add('a');
    queue.add('a');
    queue.add('a');
    await flush();
    expect(calls).toBe(1);
    gates[0]!.open();
    await flush();
    expect(calls).toBe(2);
    gates[1]!.open();
    await queue.idle();
    await flush();
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('backs a failing key off per key, doubling from baseDelayMs up to maxDelayMs', async () => {
    let calls = 0;
    const { queue, clock } = makeQueue(
      async (key) => {
        if (key === 'bad') {
          calls++;
          throw new Error('engine down');
        }
      },
      { baseDelayMs: 5, maxDelayMs: 40 },
    );
    queue.add('bad');
    await flush();
    expect(calls).toBe(1);
    expect(queue.failures('bad')).toBe(1);
    // A healthy key has its own (empty) backoff.
    queue.add('good');
    await flush();
    expect(queue.failures('good')).toBe(0);

    for (const [i, delay] of [5, 10, 20, 40, 40, 40].entries()) {
      clock.advance(delay - 1);
      await flush();
      expect(calls, `retry ${i + 1} must wait ${delay} ms`).toBe(i + 1);
      clock.advance(1);
      await flush();
      expect(calls).toBe(i + 2);
      expect(queue.failures('bad')).toBe(i + 2);
    }
    await queue.shutdown();
  });

  it('forgets the backoff when a key succeeds after failures', async () => {
    let failNext = 2;
    let calls = 0;
    const { queue, clock } = makeQueue(async () => {
      calls++;
      if (failNext > 0) {
        failNext--;
        throw new Error('not yet');
      }
    });
    queue.add('a');
    await flush();
    clock.advance(5);
    await flush();
    expect(queue.failures('a')).toBe(2);
    clock.advance(10);
    await flush();
    expect(calls).toBe(3);
    expect(queue.failures('a')).toBe(0);
    expect(clock.pending).toBe(0);

    // The next failure starts again from the base delay.
    failNext = 1;
    queue.add('a');
    await flush();
    expect(queue.failures('a')).toBe(1);
    clock.advance(5);
    await flush();
    expect(calls).toBe(5);
    expect(queue.failures('a')).toBe(0);
  });

  it('does not retry a TerminalError', async () => {
    let calls = 0;
    const { queue, clock } = makeQueue(async () => {
      calls++;
      throw new TerminalError('code is missing');
    });
    queue.add('a');
    await queue.idle();
    expect(calls).toBe(1);
    expect(clock.pending).toBe(0);
    expect(queue.failures('a')).toBe(0);
    clock.advance(120_000);
    await flush();
    expect(calls).toBe(1);
  });

  it('schedules another look when reconcile returns requeueAfterMs', async () => {
    let calls = 0;
    const { queue, clock } = makeQueue(async () => {
      calls++;
      return calls === 1 ? { requeueAfterMs: 100 } : {};
    });
    queue.add('a');
    await queue.idle();
    expect(calls).toBe(1);
    clock.advance(99);
    await flush();
    expect(calls).toBe(1);
    clock.advance(1);
    await queue.idle();
    expect(calls).toBe(2);
    clock.advance(10_000);
    await flush();
    expect(calls).toBe(2);
  });

  it('keeps the earliest timer when a key is added after a delay twice', async () => {
    const seen: number[] = [];
    const { queue, clock } = makeQueue(async () => {
      seen.push(clock.now());
    });
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    queue.addAfter('a', 80);
    expect(clock.pending).toBe(1);
    clock.advance(49);
    await flush();
    expect(seen).toEqual([]);
    clock.advance(1);
    await flush();
    expect(seen).toEqual([1_050]);
    clock.advance(1_000);
    await flush();
    expect(seen).toEqual([1_050]);
  });

  it('runs at most `workers` reconciles at once', async () => {
    const gates = new Map<string, ReturnType<typeof gate>>();
    let running = 0;
    let maxRunning = 0;
    const done: string[] = [];
    const { queue } = makeQueue(
      async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const g = gate();
        gates.set(key, g);
        await g.promise;
        running--;
        done.push(key);
      },
      { workers: 2 },
    );
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.add(key);
    await flush();
    expect(running).toBe(2);
    expect(queue.length).toBe(5);
    while (done.length < 5) {
      for (const g of gates.values()) g.open();
      await flush();
      expect(running).toBeLessThanOrEqual(2);
    }
    await queue.idle();
    expect(maxRunning).toBe(2);
    expect(done.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('cancels timers on shutdown, waits for running reconciles and ignores later adds', async () => {
    const running = gate();
    let calls = 0;
    let finished = false;
    const { queue, clock } = makeQueue(async (key) => {
      calls++;
      if (key === 'slow') {
        await running.promise;
        finished = true;
        return;
      }
      throw new Error('retry me');
    });
    queue.add('failing');
    queue.addAfter('later', 1_000);
    queue.add('slow');
    await flush();
    expect(clock.pending).toBe(2); // the backoff of "failing" and "later"

    const stopped = queue.shutdown();
    expect(clock.pending).toBe(0);
    let resolved = false;
    void stopped.then(() => (resolved = true));
    await flush();
    expect(resolved).toBe(false);
    running.open();
    await stopped;
    expect(finished).toBe(true);

    const before = calls;
    queue.add('failing');
    queue.addAfter('x', 1);
    clock.advance(60_000);
    await flush();
    expect(calls).toBe(before);
    expect(clock.pending).toBe(0);
  });
});
