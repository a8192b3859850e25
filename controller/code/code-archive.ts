/**
 * Function code on disk: `<functionsDir>/<name>/<digest>/`, one folder per code version.
 *
 * Uploaded archives are untrusted. Before anything is written, the archive's central directory
 * is scanned with yauzl (the zip reader inside extract-zip): entry count, declared unpacked size,
 * entry names, entry types and the code root are checked there. Extraction itself is done by
 * extract-zip into a temporary folder beside the final one, with the same checks repeated in its
 * `onEntry` hook, and the result is renamed into place in one step. A failure at any point
 * removes the temporary folder; an existing version is never written to.
 *
 * Every message in an `InvalidArchive` names the offending entry (a path inside the archive,
 * chosen by the uploader) and never a host path.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import extract from 'extract-zip';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { GlambdarError, InvalidArchive, InvalidName } from '../support/errors.js';

/** Limits on an uploaded archive, from DESIGN.md. */
export interface ArchiveLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxUnpackedBytes: 250 * 1024 * 1024, maxEntries: 10_000 };

export interface InstalledCode {
  /** First 20 hex chars of a sha256 over the code's listing, executable bits and contents. */
  digest: string;
  /** `<functionsDir>/<name>/<digest>`: holds index.js (or index.mjs) at its root. */
  codeDir: string;
  /** False when this version was already installed and nothing was written. */
  created: boolean;
}

const DIGEST_LENGTH = 20;
const NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ENTRY_POINTS = ['index.js', 'index.mjs'];
const MACOSX_PREFIX = '__MACOSX/';
const TMP_PREFIX = '.tmp-';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;
const EXEC_FILE_MODE = 0o755;

/**
 * Unpacks `zipPath` into `<functionsDir>/<name>/<digest>/` safely and returns {digest, codeDir}.
 * The digest is that of the unpacked code (see {@link installFolder}), not of the zip's bytes:
 * the same files zipped again, with other timestamps, order or compression, are the same
 * version, so a CI job that rebuilds its archives on every commit does not replace containers.
 * An already installed version is not written to; the new copy is dropped.
 */
export async function installArchive(
  zipPath: string,
  functionsDir: string,
  name: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<InstalledCode> {
  checkName(name);
  functionsDir = path.resolve(functionsDir); // extract-zip wants an absolute folder
  const { root } = await scanArchive(zipPath, limits);

  return withTempDir(functionsDir, async (tmp) => {
    await extractChecked(zipPath, tmp, limits);
    await normalizeTree(tmp);
    const src = root === '' ? tmp : path.join(tmp, root);
    await assertEntryPoint(src);
    const digest = await digestFolder(src, await scanFolder(src, limits), limits);
    return placeVersion(src, path.join(functionsDir, name, digest), digest);
  });
}

/**
 * Same but from a folder holding index.js (used by GitOps manifests): digest = hash over sorted
 * relative paths, executable bits and contents, so a folder and a zip of the same files are one
 * version; copied (no symlinks followed/allowed).
 *
 * `srcDir` itself may be reached through a link (it is the operator's path); nothing inside it may.
 */
export async function installFolder(
  srcDir: string,
  functionsDir: string,
  name: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<InstalledCode> {
  checkName(name);
  functionsDir = path.resolve(functionsDir);
  const entries = await scanFolder(srcDir, limits);

  // First pass reads only: an unchanged folder costs no writes.
  const firstDigest = await digestFolder(srcDir, entries, limits);
  const firstDir = path.join(functionsDir, name, firstDigest);
  if (await exists(firstDir)) {
    await reinstalled(firstDir);
    return { digest: firstDigest, codeDir: firstDir, created: false };
  }

  return withTempDir(functionsDir, async (tmp) => {
    // The digest of a new version is computed from the very bytes that are copied, so a file
    // edited between the two passes cannot leave a code folder that does not match its name.
    const digest = await copyFolder(srcDir, tmp, entries, limits);
    return placeVersion(tmp, path.join(functionsDir, name, digest), digest);
  });
}

/** Moves a finished tree into place as version `digest`, unless that version is installed already. */
async function placeVersion(src: string, codeDir: string, digest: string): Promise<InstalledCode> {
  if (await exists(codeDir)) {
    await reinstalled(codeDir);
    return { digest, codeDir, created: false };
  }
  const created = await moveIntoPlace(src, codeDir);
  return { digest, codeDir, created };
}

/**
 * Removes every code version of a function except `keepDigest` (or all if undefined); with
 * `installedBefore` (epoch ms), only versions last installed before then.
 */
export async function pruneCode(functionsDir: string, name: string, keepDigest?: string, installedBefore = Infinity): Promise<void> {
  checkName(name);
  const dir = path.join(functionsDir, name);
  if (keepDigest === undefined) {
    await fs.rm(dir, { recursive: true, force: true });
    return;
  }
  let versions: string[];
  try {
    versions = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await Promise.all(
    versions
      .filter((v) => v !== keepDigest)
      .map(async (v) => {
        const info = await fs.stat(path.join(dir, v)).catch(() => undefined);
        if (info && info.mtimeMs < installedBefore) await fs.rm(path.join(dir, v), { recursive: true, force: true });
      }),
  );
}

/** An existing version installed again is marked as just installed, so pruning spares it. */
async function reinstalled(codeDir: string): Promise<void> {
  const now = new Date();
  await fs.utimes(codeDir, now, now).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// Archive checks

interface ScanState {
  limits: ArchiveLimits;
  entries: number;
  bytes: number;
  /** Normalized paths of files, and of folders (explicit or implied by a deeper entry). */
  files: Set<string>;
  dirs: Set<string>;
  /** Same, leaving out `__MACOSX/` (which extract-zip skips): used to find the code root. */
  codeFiles: Set<string>;
  codeTop: Set<string>;
}

function newScanState(limits: ArchiveLimits): ScanState {
  return { limits, entries: 0, bytes: 0, files: new Set(), dirs: new Set(), codeFiles: new Set(), codeTop: new Set() };
}

function checkEntryCount(count: number, limits: ArchiveLimits): void {
  if (count > limits.maxEntries) {
    throw new InvalidArchive(`archive has ${count} entries; at most ${limits.maxEntries} are allowed`);
  }
}

/** A name as it may appear in a message: quoted, control characters escaped, not too long. */
function shown(name: string): string {
  const short = name.length > 200 ? `${name.slice(0, 200)}...` : name;
  return JSON.stringify(short);
}

/**
 * Checks one entry and counts it. Returns whether it is a folder. Throws `InvalidArchive`.
 * Used by the pre-scan and again by extract-zip's `onEntry`.
 */
function checkEntry(state: ScanState, entry: Entry): { isDir: boolean; segments: string[] } {
  const name = entry.fileName;
  state.entries += 1;
  checkEntryCount(state.entries, state.limits);

  // yauzl already refuses `..`, absolute paths and drive letters, and turns `\` into `/`;
  // these repeat that so the rule does not depend on its defaults.
  if (name.includes('\\') || name.includes('\0')) {
    throw new InvalidArchive(`archive entry ${shown(name)} has invalid characters in its name`);
  }
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    throw new InvalidArchive(`archive entry ${shown(name)} has an absolute path`);
  }
  const raw = name.split('/');
  if (raw.includes('..')) {
    throw new InvalidArchive(`archive entry ${shown(name)} escapes the archive folder`);
  }
  const segments = raw.filter((s) => s !== '' && s !== '.');
  const resolved = path.posix.resolve('/root', ...segments);
  if (resolved !== '/root' && !resolved.startsWith('/root/')) {
    throw new InvalidArchive(`archive entry ${shown(name)} escapes the archive folder`);
  }

  const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) {
    throw new InvalidArchive(`archive entry ${shown(name)} is a symbolic link; links are not allowed`);
  }
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw new InvalidArchive(`archive entry ${shown(name)} is not a regular file or folder`);
  }
  // The same rules extract-zip applies to tell a folder from a file.
  const dosDir = entry.versionMadeBy >> 8 === 0 && entry.externalFileAttributes === 16;
  const isDir = type === S_IFDIR || name.endsWith('/') || dosDir;

  if (!isDir) {
    if (segments.length === 0) throw new InvalidArchive(`archive entry ${shown(name)} has an empty name`);
    if (entry.isEncrypted()) throw new InvalidArchive(`archive entry ${shown(name)} is encrypted`);
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
      throw new InvalidArchive(`archive entry ${shown(name)} uses an unsupported compression method`);
    }
  }

  // Declared sizes: yauzl (validateEntrySizes, on by default) fails the extraction if an entry
  // inflates to anything else, so the sum of the declared sizes bounds what is written.
  state.bytes += entry.uncompressedSize;
  if (state.bytes > state.limits.maxUnpackedBytes) {
    throw new InvalidArchive(
      `archive unpacks to more than ${formatBytes(state.limits.maxUnpackedBytes)} (limit reached at entry ${shown(name)})`,
    );
  }
  return { isDir, segments };
}

/** Records an entry's path for the conflict and code-root checks (pre-scan only). */
function recordEntry(state: ScanState, entry: Entry, isDir: boolean, segments: string[]): void {
  if (segments.length === 0) return; // "./" and the like: the root itself
  const rel = segments.join('/');
  const forCode = !entry.fileName.startsWith(MACOSX_PREFIX);
  for (let i = 1; i < segments.length; i++) state.dirs.add(segments.slice(0, i).join('/'));
  if (isDir) {
    state.dirs.add(rel);
  } else {
    if (state.files.has(rel)) {
      throw new InvalidArchive(`archive entry ${shown(entry.fileName)} appears more than once`);
    }
    state.files.add(rel);
    if (forCode) state.codeFiles.add(rel);
  }
  if (forCode) state.codeTop.add(segments[0]!);
}

/** Where index.js is: '' for the archive root, or the name of the single top-level folder. */
function pickRoot(state: ScanState): string {
  for (const file of state.files) {
    if (state.dirs.has(file)) {
      throw new InvalidArchive(`archive entry ${shown(file)} is both a file and a folder`);
    }
  }
  if (ENTRY_POINTS.some((f) => state.codeFiles.has(f))) return '';
  if (state.codeTop.size === 1) {
    const [top] = state.codeTop;
    if (top !== undefined && state.dirs.has(top) && ENTRY_POINTS.some((f) => state.codeFiles.has(`${top}/${f}`))) {
      return top;
    }
  }
  throw new InvalidArchive('archive has no index.js at its root or in a single top-level folder');
}

function openZip(zipPath: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true, autoClose: true, validateEntrySizes: true }, (err, zip) => {
      if (err) {
        reject(isSystemError(err) ? err : new InvalidArchive('upload is not a valid zip archive', { cause: err }));
      } else {
        resolve(zip);
      }
    });
  });
}

/** Reads the central directory only (no file data) and checks every entry. */
async function scanArchive(zipPath: string, limits: ArchiveLimits): Promise<{ root: string }> {
  const zip = await openZip(zipPath);
  try {
    checkEntryCount(zip.entryCount, limits);
    const state = newScanState(limits);
    return await new Promise<{ root: string }>((resolve, reject) => {
      zip.on('error', (err: unknown) => reject(archiveError(err)));
      zip.on('entry', (entry: Entry) => {
        try {
          const { isDir, segments } = checkEntry(state, entry);
          recordEntry(state, entry, isDir, segments);
          zip.readEntry();
        } catch (err) {
          reject(err);
        }
      });
      zip.on('end', () => {
        try {
          resolve({ root: pickRoot(state) });
        } catch (err) {
          reject(err);
        }
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/**
 * extract-zip with the entry checks repeated in `onEntry` (a throw there rejects extract-zip's
 * promise: it runs inside the try/catch that cancels the extraction, before anything of that
 * entry is written). The entry's mode is also rewritten there so that extract-zip creates
 * folders 0755 and files 0644 (0755 when executable) whatever the archive says.
 */
async function extractChecked(zipPath: string, dir: string, limits: ArchiveLimits): Promise<void> {
  const state = newScanState(limits);
  let first = true;
  let current = '';
  try {
    await extract(zipPath, {
      dir,
      onEntry(entry, zipfile) {
        if (first) {
          first = false;
          checkEntryCount(zipfile.entryCount, limits);
          repairReadStreamErrors(zipfile);
        }
        current = entry.fileName;
        const { isDir } = checkEntry(state, entry);
        const mode = (entry.externalFileAttributes >>> 16) & 0o777;
        const newMode = isDir ? S_IFDIR | DIR_MODE : S_IFREG | (mode & 0o100 ? EXEC_FILE_MODE : FILE_MODE);
        entry.externalFileAttributes = ((newMode << 16) | (entry.externalFileAttributes & 0xffff)) >>> 0;
      },
    });
  } catch (err) {
    throw archiveError(err, current);
  }
}

/**
 * yauzl 2.x (the version extract-zip 2 pins) checks that each entry inflates to exactly the size
 * it declares, but it replaces `destroy()` on the stream it hands out, and on Node >= 14 that
 * swallows the stream's own error: a lying entry stops flowing and extract-zip's promise never
 * settles (yauzl#123, fixed only in yauzl 3). Every read stream of this zip gets a `destroy()`
 * that runs yauzl's cleanup and then the real one, so the size error rejects the extraction.
 * extract-zip looks `openReadStream` up on the zip object after `onEntry`, so replacing it on the
 * first entry covers all of them.
 */
function repairReadStreamErrors(zipfile: ZipFile): void {
  type Callback = (err: Error | null, stream: Readable) => void;
  const open = zipfile.openReadStream.bind(zipfile) as (entry: Entry, cb: Callback) => void;
  const patched = (entry: Entry, cb: Callback): void => {
    open(entry, (err, stream) => {
      if (err) {
        cb(err, stream);
        return;
      }
      const yauzlDestroy = stream.destroy;
      if (yauzlDestroy !== Readable.prototype.destroy) {
        stream.destroy = function (this: Readable, error?: Error) {
          yauzlDestroy.call(this);
          return Readable.prototype.destroy.call(this, error);
        };
      }
      cb(null, stream);
    });
  };
  (zipfile as unknown as { openReadStream: typeof patched }).openReadStream = patched;
}

/**
 * Errors of the zip reader become `InvalidArchive`. Host errors (disk full, permissions) keep
 * their type: they are not the uploader's fault. `current` is the entry being unpacked.
 */
function archiveError(err: unknown, current = ''): unknown {
  if (err instanceof GlambdarError || isSystemError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  let m: RegExpMatchArray | null;
  if ((m = /^invalid relative path: ([\s\S]*)$/.exec(message))) {
    return new InvalidArchive(`archive entry ${shown(m[1]!)} escapes the archive folder`, { cause: err });
  }
  if ((m = /^absolute path: ([\s\S]*)$/.exec(message))) {
    return new InvalidArchive(`archive entry ${shown(m[1]!)} has an absolute path`, { cause: err });
  }
  if ((m = /^invalid characters in fileName: ([\s\S]*)$/.exec(message))) {
    return new InvalidArchive(`archive entry ${shown(m[1]!)} has invalid characters in its name`, { cause: err });
  }
  if (/^(too many|not enough) bytes in the stream/.test(message)) {
    return new InvalidArchive(`archive entry ${shown(current)} does not unpack to the size it declares`, { cause: err });
  }
  if (message.startsWith('Out of bound path')) {
    // extract-zip's own check; its message holds a host path.
    return new InvalidArchive('an archive entry escapes the archive folder', { cause: err });
  }
  // yauzl's remaining messages describe the damage ("unexpected EOF", "invalid code lengths
  // set", "invalid local file header signature: 0x...") and hold no paths.
  return new InvalidArchive(`upload is not a valid zip archive: ${message}`, { cause: err });
}

/** Sets modes on the extracted tree and makes sure it holds only files and folders. */
async function normalizeTree(dir: string, rel = ''): Promise<void> {
  await fs.chmod(dir, DIR_MODE);
  for (const dirent of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, dirent.name);
    const relName = rel === '' ? dirent.name : `${rel}/${dirent.name}`;
    const st = await fs.lstat(full);
    if (st.isDirectory()) {
      await normalizeTree(full, relName);
    } else if (st.isFile()) {
      await fs.chmod(full, st.mode & 0o100 ? EXEC_FILE_MODE : FILE_MODE);
    } else {
      throw new InvalidArchive(`archive entry ${shown(relName)} is not a regular file or folder`);
    }
  }
}

async function assertEntryPoint(dir: string): Promise<void> {
  for (const f of ENTRY_POINTS) {
    const st = await fs.lstat(path.join(dir, f)).catch(() => undefined);
    if (st?.isFile()) return;
  }
  throw new InvalidArchive('archive has no index.js at its root or in a single top-level folder');
}

// ---------------------------------------------------------------------------------------------
// Folder checks and copy

interface FolderEntry {
  rel: string;
  isDir: boolean;
}

/** Lists a code folder without following links; enforces the archive limits and index.js. */
async function scanFolder(srcDir: string, limits: ArchiveLimits): Promise<FolderEntry[]> {
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

  if (!out.some((e) => !e.isDir && ENTRY_POINTS.includes(e.rel))) {
    throw new InvalidArchive('code folder has no index.js at its root');
  }
  // Code-unit order; a folder sorts before everything inside it.
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
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

function digestFolder(srcDir: string, entries: FolderEntry[], limits: ArchiveLimits): Promise<string> {
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
function copyFolder(srcDir: string, destDir: string, entries: FolderEntry[], limits: ArchiveLimits): Promise<string> {
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

// ---------------------------------------------------------------------------------------------
// Shared helpers

function checkName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new InvalidName(`invalid function name ${shown(name)}: use lowercase letters, digits and dashes (a DNS label)`);
  }
}

/** Runs `fn` with a fresh `<functionsDir>/.tmp-<random>` folder, removed afterwards in every case. */
async function withTempDir<T>(functionsDir: string, fn: (tmp: string) => Promise<T>): Promise<T> {
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

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Node's system errors carry `errno` and `syscall`; the zip reader's own errors do not. */
function isSystemError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { syscall?: unknown }).syscall === 'string';
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
