/**
 * YAML that is code: a code folder a manifest names is the function's, and a `config.yaml` or
 * `openapi.yml` inside it is code, never a manifest. Also when code has settled enough to read.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GlambdarError, installCode, type Clock, type Logger } from '../controller/index.js';
import type { FileTable } from './file-entry.js';
import { within } from './folder.js';
import type { ManifestError, ManifestFunction } from './parse.js';

/** The code folders of `functions` that do not hold `file` itself (absolute paths). */
export function codeFoldersOf(file: string, functions: readonly ManifestFunction[]): string[] {
  return functions.filter((fn) => fn.code.kind === 'folder' && !within(file, fn.code.path)).map((fn) => fn.code.path);
}

/** The manifest file (other than `rel`) whose code folder holds `absolute`, or null. */
export function codeOwner(files: FileTable, rel: string, absolute: string): string | null {
  for (const [file, entry] of files) {
    if (file !== rel && entry.codeDirs.some((dir) => within(absolute, dir))) return file;
  }
  return null;
}

/** Modification times of a code zip, or of every file of a code folder. */
export async function modificationTimes(code: ManifestFunction['code']): Promise<number[]> {
  if (code.kind === 'zip') {
    const info = await stat(code.path).catch(() => undefined);
    return info ? [info.mtimeMs] : [];
  }
  const times: number[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32 || times.length > 10_000) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const dirent of entries) {
      const absolute = path.join(dir, dirent.name);
      if (dirent.isDirectory()) await walk(absolute, depth + 1);
      else if (dirent.isFile()) {
        const info = await stat(absolute).catch(() => undefined);
        if (info) times.push(info.mtimeMs);
      }
    }
  };
  await walk(code.path, 0);
  return times;
}

/** How long files must stay untouched before they are read: a writer may still be at them. */
export class Settling {
  constructor(
    readonly clock: Clock,
    readonly stabilityMs: number,
  ) {}

  /** How much longer a file modified at `mtimeMs` must stay untouched before it is read. */
  fileWait(mtimeMs: number): number {
    if (this.stabilityMs <= 0) return 0;
    const age = this.clock.now() - mtimeMs;
    if (age < -1000) return 0; // a timestamp from the future (copied with its time, clock skew): do not wait forever
    return Math.max(0, this.stabilityMs - age);
  }

  /** The same for every file of the functions' code. */
  async codeWait(functions: readonly ManifestFunction[]): Promise<number> {
    if (this.stabilityMs <= 0) return 0;
    let wait = 0;
    for (const fn of functions) {
      for (const mtime of await modificationTimes(fn.code)) wait = Math.max(wait, this.fileWait(mtime));
    }
    return wait;
  }
}

/**
 * Installs each function's code into a scratch folder, so a bad archive fails a whole
 * multi-function file before anything of it applies.
 */
export async function checkCode(rel: string, functions: readonly ManifestFunction[], log: Logger): Promise<ManifestError[]> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'glambdar-manifest-check-'));
  const errors: ManifestError[] = [];
  try {
    for (const fn of functions) {
      try {
        await installCode(fn.code, scratch, fn.name, { handler: fn.patch.handler ?? null });
      } catch (err) {
        errors.push({ file: rel, documentIndex: fn.documentIndex, path: 'spec.code', message: userMessage(err, log) });
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return errors;
}

/** What a file's state may say of an error: ours as it is; a host error (which would name host paths) only by its kind, logged in full. */
export function userMessage(err: unknown, log: Logger): string {
  if (err instanceof GlambdarError) return err.message;
  log.error(`manifests: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const code = (err as { code?: unknown } | null)?.code;
  return `could not read or install the code${typeof code === 'string' ? ` (${code})` : ''}; see the runtime's log`;
}
