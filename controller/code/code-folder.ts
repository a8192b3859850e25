/**
 * Code folders: listed without following links, digested, and copied by the very bytes that
 * are digested, so a folder edited during a copy cannot leave a version that does not match
 * its name.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArchive } from '../support/errors.js';
import { DIGEST_LENGTH, DIR_MODE, entryFilesOf, EXEC_FILE_MODE, FILE_MODE, formatBytes, isErrno, missingEntryMessage, shown, type ArchiveLimits } from './rules.js';

/** One entry of a code folder, by its path relative to the folder. */
export interface FolderEntry {
  rel: string;
  isDir: boolean;
}

/** Lists a code folder without following links; enforces the archive limits and the entry file (`handler`'s, or index.js). */
export async function scanFolder(srcDir: string, limits: ArchiveLimits, handler: string | null = null, where: 'archive' | 'code folder' = 'code folder'): Promise<FolderEntry[]> {
  const st = await fs.stat(srcDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new InvalidArchive('code folder does not exist or is not a folder');

  const out: FolderEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const dirent of await fs.readdir(dir, { withFileTypes: true })) {
      const relName = rel === '' ? dirent.name : `${rel}/${dirent.name}`;
      if (dirent.isSymbolicLink()) {
        throw new InvalidArchive(`code folder entry ${shown(relName)} is a symbolic link; links are not allowed`);
      }
      if (!dirent.isDirectory() && !dirent.isFile()) {
        throw new InvalidArchive(`code folder entry ${shown(relName)} is not a regular file or folder`);
      }
      out.push({ rel: relName, isDir: dirent.isDirectory() });
      if (out.length > limits.maxEntries) {
        throw new InvalidArchive(`code folder has more than ${limits.maxEntries} entries`);
      }
      if (dirent.isDirectory()) await walk(path.join(dir, dirent.name), relName);
    }
  };
  await walk(srcDir, '');

  if (entryIn(out, handler) === undefined) {
    const found = out.filter((e) => !e.isDir && !e.rel.includes('/')).map((e) => e.rel);
    throw new InvalidArchive(missingEntryMessage(where, handler, found));
  }
  // Code-unit order; a folder sorts before everything inside it.
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The file a code starts from: the first of the handler's entry files (worker/entry-files.ts order) it holds. */
export function entryIn(entries: readonly FolderEntry[], handler: string | null): string | undefined {
  const files = new Set(entries.filter((e) => !e.isDir).map((e) => e.rel));
  return entryFilesOf(handler).find((file) => files.has(file));
}

/** Opens a regular file without following a link, even one put there after the scan. */
async function openRegular(file: string, rel: string): Promise<fs.FileHandle> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ELOOP')) {
      throw new InvalidArchive(`code folder entry ${shown(rel)} is a symbolic link; links are not allowed`);
    }
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new InvalidArchive(`code folder entry ${shown(rel)} is not a regular file`);
  }
  return fh;
}

/** Hashes the bytes that pass through and keeps a running total against the size limit. */
class HashingCounter extends Transform {
  readonly hash: Hash = createHash('sha256');
  constructor(
    private readonly total: { bytes: number },
    private readonly limit: number,
    private readonly rel: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total.bytes += chunk.length;
    if (this.total.bytes > this.limit) {
      done(new InvalidArchive(`code folder is larger than ${formatBytes(this.limit)} (limit reached at ${shown(this.rel)})`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/**
 * The code digest: sha256 over one record per entry, in sorted order: `d:<rel>\0\n` for a
 * folder, `f:<rel>\0<sha256 of contents, hex>\n` for a file (`x:` when executable, since the
 * installed copy keeps that bit).
 */
async function hashEntries(
  srcDir: string,
  entries: FolderEntry[],
  limits: ArchiveLimits,
  eachFile: (fh: fs.FileHandle, counter: HashingCounter, entry: FolderEntry, executable: boolean) => Promise<void>,
  eachDir: (entry: FolderEntry) => Promise<void>,
): Promise<string> {
  const outer = createHash('sha256');
  const total = { bytes: 0 };
  for (const entry of entries) {
    if (entry.isDir) {
      await eachDir(entry);
      outer.update(`d:${entry.rel}\0\n`);
      continue;
    }
    const fh = await openRegular(path.join(srcDir, ...entry.rel.split('/')), entry.rel);
    const counter = new HashingCounter(total, limits.maxUnpackedBytes, entry.rel);
    let executable: boolean;
    try {
      executable = ((await fh.stat()).mode & 0o100) !== 0;
      await eachFile(fh, counter, entry, executable);
    } finally {
      await fh.close().catch(() => undefined);
    }
    outer.update(`${executable ? 'x' : 'f'}:${entry.rel}\0${counter.hash.digest('hex')}\n`);
  }
  return outer.digest('hex').slice(0, DIGEST_LENGTH);
}

export function digestFolder(srcDir: string, entries: FolderEntry[], limits: ArchiveLimits): Promise<string> {
  return hashEntries(
    srcDir,
    entries,
    limits,
    async (fh, counter) => {
      await pipeline(fh.createReadStream({ autoClose: false }), counter, async (source) => {
        for await (const _ of source) {
          // drain
        }
      });
    },
    async () => undefined,
  );
}

/** Copies into `destDir` and returns the digest of what was copied. */
export function copyFolder(srcDir: string, destDir: string, entries: FolderEntry[], limits: ArchiveLimits): Promise<string> {
  return hashEntries(
    srcDir,
    entries,
    limits,
    async (fh, counter, entry, executable) => {
      const mode = executable ? EXEC_FILE_MODE : FILE_MODE;
      const dest = path.join(destDir, ...entry.rel.split('/'));
      await pipeline(fh.createReadStream({ autoClose: false }), counter, createWriteStream(dest, { flags: 'wx', mode }));
      await fs.chmod(dest, mode); // the umask may have taken bits away
    },
    async (entry) => {
      const dest = path.join(destDir, ...entry.rel.split('/'));
      await fs.mkdir(dest, { mode: DIR_MODE });
      await fs.chmod(dest, DIR_MODE);
    },
  ).then(async (digest) => {
    await fs.chmod(destDir, DIR_MODE);
    return digest;
  });
}
