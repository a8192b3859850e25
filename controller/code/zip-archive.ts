/**
 * Uploaded archives are untrusted. Before anything is written, the archive's central directory
 * is scanned with yauzl (the zip reader inside extract-zip): entry count, declared unpacked size,
 * entry names, entry types and the code root are checked there. Extraction itself is done by
 * extract-zip into a folder the caller gives, with the same checks repeated in its `onEntry`
 * hook. Every message in an `InvalidArchive` names the offending entry (a path inside the
 * archive, chosen by the uploader) and never a host path.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import extract from 'extract-zip';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { GlambdarError, InvalidArchive } from '../support/errors.js';
import {
  DIR_MODE,
  entryFilesOf,
  EXEC_FILE_MODE,
  FILE_MODE,
  formatBytes,
  isSystemError,
  missingEntryMessage,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  shown,
  type ArchiveLimits,
} from './rules.js';

const MACOSX_PREFIX = '__MACOSX/';

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

/** Where the entry is: '' for the archive root, or the name of the single top-level folder. */
function pickRoot(state: ScanState, handler: string | null): string {
  const entryFiles = entryFilesOf(handler);
  for (const file of state.files) {
    if (state.dirs.has(file)) {
      throw new InvalidArchive(`archive entry ${shown(file)} is both a file and a folder`);
    }
  }
  if (entryFiles.some((f) => state.codeFiles.has(f))) return '';
  if (state.codeTop.size === 1) {
    const [top] = state.codeTop;
    if (top !== undefined && state.dirs.has(top) && entryFiles.some((f) => state.codeFiles.has(`${top}/${f}`))) {
      return top;
    }
  }
  // What the uploader gave instead: the files at the root, or in the one folder.
  const [top] = state.codeTop.size === 1 && state.dirs.has([...state.codeTop][0]!) ? [...state.codeTop] : [];
  const prefix = top === undefined ? '' : `${top}/`;
  const found = [...state.codeFiles].filter((f) => f.startsWith(prefix) && !f.slice(prefix.length).includes('/')).sort();
  throw new InvalidArchive(missingEntryMessage('archive', handler, found));
}

/**
 * True when the file starts as a zip archive does (a local file header, or the end record of
 * an empty archive): an upload that does not is refused as "not a zip" before anything else.
 */
export async function looksLikeZip(filePath: string): Promise<boolean> {
  const handle = await fs.open(filePath, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
  } finally {
    await handle.close();
  }
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

/** Reads the central directory only (no file data) and checks every entry; `handler` says which entry file to look for. */
export async function scanArchive(zipPath: string, limits: ArchiveLimits, handler: string | null = null): Promise<{ root: string }> {
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
          resolve({ root: pickRoot(state, handler) });
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
export async function extractChecked(zipPath: string, dir: string, limits: ArchiveLimits): Promise<void> {
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
export async function normalizeTree(dir: string, rel = ''): Promise<void> {
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
