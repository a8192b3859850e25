import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.js';
import { SandboxUnavailable } from './errors.js';
import { silentLogger } from './logger.js';
import { StemCells } from './stem-cells.js';
import { FakeSandbox } from './testing/fake-sandbox.js';

let dir: string;
let sandbox: FakeSandbox;
let cells: StemCells;

function makeCells(perSize = 2): StemCells {
  cells = new StemCells({
    sandbox,
    clock: systemClock,
    log: silentLogger,
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
  it('ends the boost of every cell before offering it', async () => {
    makeCells(2).start();
    await vi.waitFor(() => expect(cells.readyCount).toBe(2), { timeout: 5_000, interval: 5 });
    const ids = [...sandbox.containers.keys()];
    expect(sandbox.settled).toEqual(ids.map((id) => ({ id, cpus: 0.5 })));
  });

  it('offers no cell whose CPU limit cannot be set, and removes its container', async () => {
    sandbox.failSettle = () => new SandboxUnavailable('update refused');
    makeCells(1).start();
    await vi.waitFor(() => {
      expect(sandbox.removed).toHaveLength(1);
      expect(sandbox.containers.size).toBe(0);
    }, { timeout: 5_000, interval: 5 });
    expect(sandbox.starts).toBe(1);
    expect(cells.readyCount).toBe(0);
  });
});
