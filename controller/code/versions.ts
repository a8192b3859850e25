/**
 * Code versions on disk: `<functionsDir>/<name>/<digest>/`, one folder per version. A version
 * is written in a temporary folder beside its final place and renamed there in one step; an
 * existing version is never written to. Old versions are pruned once nothing runs them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkFunctionName } from '../support/function-name.js';
import { DIR_MODE, isErrno } from './rules.js';

/** What an install produced. */
export interface InstalledCode {
  /** First 20 hex chars of a sha256 over the code's listing, executable bits and contents. */
  digest: string;
  /** `<functionsDir>/<name>/<digest>`: holds index.js (or index.mjs) at its root. */
  codeDir: string;
  /** False when this version was already installed and nothing was written. */
  created: boolean;
}

const TMP_PREFIX = '.tmp-';

/** Moves a finished tree into place as version `digest`, unless that version is installed already. */
export async function placeVersion(src: string, codeDir: string, digest: string): Promise<InstalledCode> {
  if (await exists(codeDir)) {
    await reinstalled(codeDir);
    return { digest, codeDir, created: false };
  }
  const created = await moveIntoPlace(src, codeDir);
  return { digest, codeDir, created };
}

/**
 * Removes every code version of a function except those in `keep` (all when `keep` is
 * undefined); with `installedBefore` (epoch ms), only versions last installed before then.
 * The reconciler keeps the code of every kept revision and of every running container.
 */
export async function pruneCode(functionsDir: string, name: string, keep?: ReadonlySet<string> | string, installedBefore = Infinity): Promise<void> {
  checkFunctionName(name);
  const dir = path.join(functionsDir, name);
  if (keep === undefined) {
    await fs.rm(dir, { recursive: true, force: true });
    return;
  }
  const kept = typeof keep === 'string' ? new Set([keep]) : keep;
  let versions: string[];
  try {
    versions = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await Promise.all(
    versions
      .filter((v) => !kept.has(v))
      .map(async (v) => {
        const info = await fs.stat(path.join(dir, v)).catch(() => undefined);
        if (info && info.mtimeMs < installedBefore) await fs.rm(path.join(dir, v), { recursive: true, force: true });
      }),
  );
}

/** An existing version installed again is marked as just installed, so pruning spares it. */
export async function reinstalled(codeDir: string): Promise<void> {
  const now = new Date();
  await fs.utimes(codeDir, now, now).catch(() => undefined);
}

/** Runs `fn` with a fresh `<functionsDir>/.tmp-<random>` folder, removed afterwards in every case. */
export async function withTempDir<T>(functionsDir: string, fn: (tmp: string) => Promise<T>): Promise<T> {
  await fs.mkdir(functionsDir, { recursive: true });
  const tmp = await fs.mkdtemp(path.join(functionsDir, TMP_PREFIX));
  try {
    return await fn(tmp);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Renames a finished tree to its final place. Returns false (and leaves the existing folder
 * alone) when another install of the same version got there first.
 */
async function moveIntoPlace(src: string, codeDir: string): Promise<boolean> {
  await fs.mkdir(path.dirname(codeDir), { recursive: true, mode: DIR_MODE });
  await fs.chmod(src, DIR_MODE);
  try {
    await fs.rename(src, codeDir);
    return true;
  } catch (err) {
    if ((isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) && (await exists(codeDir))) return false;
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
