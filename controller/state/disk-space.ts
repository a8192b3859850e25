import { statfsSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../support/clock.js';

/** What `statfs` says of a filesystem: blocks free to an unprivileged user, and their size. */
export interface FsStats {
  bavail: number;
  bsize: number;
  /** Blocks of the whole filesystem. */
  blocks: number;
}

/** The reserve when none is configured: 64 MiB, or 5 % of a smaller disk. */
const AUTO_RESERVE_BYTES = 64 * 1024 * 1024;
const AUTO_RESERVE_SHARE = 0.05;

/** Options of {@link DiskSpace}. */
export interface DiskSpaceOptions {
  /** The data folder. */
  dir: string;
  /**
   * Below this many free bytes, invocation records are dropped and deploys refused
   * (GLAMBDAR_DISK_RESERVE_MB); `auto`: 64 MiB, or 5 % of a disk smaller than 1.25 GiB.
   */
  reserveBytes: number | 'auto';
  /** The size of the ballast file a write on a full disk may free; 0 for none. */
  ballastBytes?: number;
  clock: Pick<Clock, 'monotonic'>;
  statfs?: (dir: string) => FsStats;
}

/** The ballast file's name in the data folder. */
export const BALLAST_FILE = 'reserve.ballast';
/** How long a free-space reading is reused. */
const READING_MS = 200;

/**
 * The data disk as the runtime guards it. Invocation records stop at `reserveBytes` free (and
 * are counted as dropped), so desired-state writes, deletions first, still have room; a deploy
 * is refused there (507). If something else fills the disk to the last byte, a ballast file
 * written at start is given up so a deletion can still be written (and free space).
 */
export class DiskSpace {
  #o: DiskSpaceOptions;
  #statfs: (dir: string) => FsStats;
  #reading: { at: number; free: number } | null = null;
  #reserve: number | null = null;

  constructor(options: DiskSpaceOptions) {
    this.#o = options;
    this.#statfs = options.statfs ?? ((dir) => statfsSync(dir));
  }

  /** Bytes free to the runtime's user on the data disk (a reading at most 200 ms old); Infinity if unknown. */
  freeBytes(): number {
    const now = this.#o.clock.monotonic();
    if (this.#reading && now - this.#reading.at < READING_MS) return this.#reading.free;
    let free = Infinity;
    try {
      const stats = this.#statfs(this.#o.dir);
      free = stats.bavail * stats.bsize;
      this.#reserve ??= this.#o.reserveBytes === 'auto' ? Math.min(AUTO_RESERVE_BYTES, Math.floor(stats.blocks * stats.bsize * AUTO_RESERVE_SHARE)) : this.#o.reserveBytes;
    } catch {
      // unknown: act as if there is room
    }
    this.#reading = { at: now, free };
    return free;
  }

  /** True when the disk has less free than the reserve. */
  low(): boolean {
    return this.freeBytes() < this.#reserveBytes();
  }

  /** The reserve, in MiB, for messages. */
  get reserveMb(): number {
    return Math.round((this.#reserveBytes() / (1024 * 1024)) * 10) / 10;
  }

  #reserveBytes(): number {
    if (this.#reserve === null) this.freeBytes();
    return this.#reserve ?? (this.#o.reserveBytes === 'auto' ? AUTO_RESERVE_BYTES : this.#o.reserveBytes);
  }

  /** Writes the ballast file when it is missing and the disk has room for it beyond the reserve. */
  async ensureBallast(): Promise<void> {
    const size = this.#o.ballastBytes ?? 0;
    if (size <= 0 || this.freeBytes() < this.#reserveBytes() + size) return;
    let handle;
    try {
      handle = await open(join(this.#o.dir, BALLAST_FILE), 'wx', 0o600);
    } catch {
      return; // there already
    }
    try {
      const chunk = Buffer.alloc(1024 * 1024);
      for (let written = 0; written < size; written += chunk.length) await handle.write(chunk, 0, Math.min(chunk.length, size - written));
    } catch {
      await handle.close().catch(() => undefined);
      this.releaseBallast();
      return;
    }
    await handle.close();
    this.#reading = null;
  }

  /** Deletes the ballast file: true when there was one (the caller may try its write again). */
  releaseBallast(): boolean {
    try {
      unlinkSync(join(this.#o.dir, BALLAST_FILE));
      this.#reading = null;
      return true;
    } catch {
      return false;
    }
  }
}

/** True for an error of a full disk: node's ENOSPC or SQLite's SQLITE_FULL, itself or as a cause. */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'SQLITE_FULL') return true;
  }
  return false;
}
