import { Console } from 'node:console';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, TRUNCATION_MARKER } from './capture.js';

// Vitest swaps the global console for one that reports to it; inside a container the global
// console writes through process.stdout/stderr, which is what this console does.
const nodeConsole = new Console(process.stdout, process.stderr);

// Recorders installed before the capture patch, so they see exactly what passes through.
const passed: string[] = [];
let restore: () => void = () => {};

beforeAll(() => {
  const out = process.stdout.write;
  const err = process.stderr.write;
  const record = (real: typeof out) =>
    function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
      passed.push(String(chunk));
      if (String(chunk).endsWith('-marker\n')) return true; // keep the test report quiet
      return Reflect.apply(real, this, [chunk, ...rest]) as boolean;
    } as typeof out;
  process.stdout.write = record(out);
  process.stderr.write = record(err);
  restore = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
});

afterAll(() => restore());

describe('runCaptured', () => {
  it('gives each of 20 interleaved invocations exactly its own output', async () => {
    const runs = Array.from({ length: 20 }, (_, i) =>
      runCaptured(async () => {
        nodeConsole.log(`start ${i}`);
        await sleep(Math.random() * 5);
        nodeConsole.error(`middle ${i}`);
        await sleep(Math.random() * 5);
        process.stdout.write(`end ${i}\n`);
        setImmediate(() => nodeConsole.log(`late ${i}`));
        // Long enough that the setImmediate above surely runs first (a 0-1 ms timer may not).
        await sleep(5 + Math.random() * 3);
        return i;
      }, 10_000),
    );
    const results = await Promise.all(runs);
    results.forEach((run, i) => {
      expect(run).toMatchObject({ ok: true, value: i });
      expect(run.stdout).toBe(`start ${i}\nend ${i}\nlate ${i}\n`);
      expect(run.stderr).toBe(`middle ${i}\n`);
    });
    expect(passed.some((line) => /start|middle|end|late/.test(line))).toBe(false);
  });

  it('passes writes made outside any invocation through to the real stream', async () => {
    await runCaptured(() => nodeConsole.log('inside'), 1000);
    process.stdout.write('outside-marker\n');
    expect(passed).toContain('outside-marker\n');
    expect(passed).not.toContain('inside\n');
  });

  it('lets a write after the invocation settled pass through instead of vanishing', async () => {
    let later: () => void = () => {};
    const run = await runCaptured(() => {
      later = () => process.stdout.write('after-settle-marker\n');
    }, 1000);
    later();
    expect(run.stdout).toBe('');
    expect(passed).toContain('after-settle-marker\n');
  });

  it('truncates stdout and stderr together at the cap and marks it', async () => {
    const run = await runCaptured(() => {
      process.stdout.write('a'.repeat(6));
      process.stderr.write('b'.repeat(6));
      process.stdout.write('never seen');
    }, 10);
    expect(run.stdout).toBe('aaaaaa');
    expect(run.stderr).toBe(`bbbb${TRUNCATION_MARKER}`);
  });

  it('cuts at a character boundary when the cap falls inside a multi-byte character', async () => {
    const run = await runCaptured(() => process.stdout.write('ééé'), 3);
    expect(run.stdout).toBe(`é${TRUNCATION_MARKER}`);
  });

  it('decodes buffers and honours a string encoding', async () => {
    const run = await runCaptured(() => {
      process.stdout.write(Buffer.from('bytes '));
      process.stdout.write('68690a', 'hex');
    }, 1000);
    expect(run.stdout).toBe('bytes hi\n');
  });

  it('calls a write callback and returns true', async () => {
    const run = await runCaptured(
      () => new Promise<boolean>((resolve) => {
        const ret = process.stdout.write('x', () => resolve(ret));
      }),
      1000,
    );
    expect(run).toMatchObject({ ok: true, value: true, stdout: 'x' });
  });

  it('returns a throw, sync or async, as an error with the output so far', async () => {
    const sync = await runCaptured(() => {
      nodeConsole.log('before');
      throw new Error('sync boom');
    }, 1000);
    expect(sync).toMatchObject({ ok: false, stdout: 'before\n' });
    expect((sync as { error: Error }).error.message).toBe('sync boom');
    const rejected = await runCaptured(() => Promise.reject('plain'), 1000);
    expect(rejected).toMatchObject({ ok: false, error: 'plain' });
  });
});
