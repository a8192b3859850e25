import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { BALLAST_FILE, DiskSpace, isDiskFull } from './disk-space.js';

const MIB = 1024 * 1024;
let dir: string;
let clock: FakeClock;
let free: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-disk-'));
  clock = new FakeClock();
  free = 100 * MIB;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const space = (ballastBytes = 0) => new DiskSpace({ dir, reserveBytes: 16 * MIB, ballastBytes, clock, statfs: () => ({ bavail: free / 4096, bsize: 4096, blocks: (1024 * MIB) / 4096 }) });

describe('DiskSpace', () => {
  it('is low under its reserve, from a reading at most 200 ms old', () => {
    const disk = space();
    expect(disk.low()).toBe(false);
    free = 10 * MIB;
    expect(disk.low()).toBe(false);
    clock.advance(200);
    expect(disk.low()).toBe(true);
    expect(disk.freeBytes()).toBe(10 * MIB);
    expect(disk.reserveMb).toBe(16);
  });

  it('reserves 64 MiB when none is configured, or 5 % of a smaller disk', () => {
    const auto = (totalMib: number) => new DiskSpace({ dir, reserveBytes: 'auto', clock, statfs: () => ({ bavail: 0, bsize: 4096, blocks: (totalMib * MIB) / 4096 }) }).reserveMb;
    expect(auto(100_000)).toBe(64);
    expect(auto(64)).toBe(3.2);
  });

  it('writes a ballast file when there is room beyond the reserve, and gives it up once', async () => {
    const disk = space(2 * MIB);
    await disk.ensureBallast();
    expect((await stat(join(dir, BALLAST_FILE))).size).toBe(2 * MIB);
    expect(disk.releaseBallast()).toBe(true);
    expect(existsSync(join(dir, BALLAST_FILE))).toBe(false);
    expect(disk.releaseBallast()).toBe(false);
    free = 17 * MIB;
    clock.advance(200);
    await disk.ensureBallast();
    expect(existsSync(join(dir, BALLAST_FILE))).toBe(false);
  });

  it('tells a full disk by ENOSPC or SQLITE_FULL, also as a cause', () => {
    expect(isDiskFull(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(true);
    expect(isDiskFull(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ENOSPC' }) }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).toBe(false);
  });
});
