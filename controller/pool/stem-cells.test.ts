import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, systemClock, type Clock } from '../support/clock.js';
import { SandboxUnavailable } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';
import { StemCells } from './stem-cells.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';

let dir: string;
let sandbox: FakeSandbox;
let cells: StemCells;

function makeCells(perSize = 2, clock: Clock = systemClock, log: Logger = silentLogger): StemCells {
  cells = new StemCells({
    sandbox,
    clock,
    log,
    cellsDir: join(dir, 'cells'),
    socketsDir: join(dir, 's'),
    workerDir: join(dir, 'worker'),
    startTimeoutMs: 5_000,
    perSize,
    initialSizes: [{ memoryMb: 128, cpus: 0.5 }],
  });
  return cells;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-stem-'));
  sandbox = new FakeSandbox();
});

afterEach(async () => {
  await cells.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('StemCells start-up CPU boost', () => {
  it('offers cells still boosted: the function given one settles it after its first answer (the pool does)', async () => {
    makeCells(2).start();
    await vi.waitFor(() => expect(cells.readyCount).toBe(2), { timeout: 5_000, interval: 5 });
    expect(sandbox.settled).toEqual([]);
  });
});

describe('StemCells lifecycle', () => {
  it('stop() waits for a cell still starting and removes it, so none outlives the runtime', async () => {
    makeCells(2).start();
    await cells.stop();
    expect(sandbox.starts).toBe(1);
    expect(sandbox.removed).toHaveLength(1);
    expect(sandbox.containers.size).toBe(0);
    expect(cells.readyCount).toBe(0);
  });

  it('after a failed start, tries again only after the back-off, not in a loop', async () => {
    const clock = new FakeClock(0);
    const warnings: string[] = [];
    sandbox.failStart = () => new SandboxUnavailable('engine down');
    makeCells(1, clock, { ...silentLogger, warn: (m: string) => warnings.push(m) }).start();
    await vi.waitFor(() => expect(warnings).toHaveLength(1), { timeout: 2_000, interval: 5 });
    // A retry at once would have started again within this time, many times over.
    await new Promise((r) => setTimeout(r, 50));
    expect(sandbox.starts).toBe(1);
    clock.advance(5_000);
    await vi.waitFor(() => expect(warnings).toHaveLength(2), { timeout: 2_000, interval: 5 });
    expect(sandbox.starts).toBe(2);
  });
});
