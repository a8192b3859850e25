/**
 * The rules every code install follows, whichever way the code comes: limits, modes, the entry
 * files, how an offending name is shown in a message. One home for each (README "API").
 */
import { describeEntry, ENTRY_FILES, entryFilesOf } from '../../worker/entry-files.js';

/** Limits on an uploaded archive or a code folder. */
export interface ArchiveLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxUnpackedBytes: 250 * 1024 * 1024, maxEntries: 10_000 };

/**
 * The files a function's code may start from (the worker loads the first found): `index.*` at
 * its root, or the file of `spec.handler`. One list, the worker's (worker/entry-files.ts).
 */
export { ENTRY_FILES, entryFilesOf };

/**
 * What a code without its entry is told: the entry file(s) looked for and, for the default
 * entry, what was there instead (at most 8 names), so `main.py` or `handler.js` reads as the
 * reason it is.
 */
export function missingEntryMessage(where: 'archive' | 'code folder', handler: string | null | undefined, found?: readonly string[]): string {
  const byDefault = handler === null || handler === undefined;
  const what = byDefault ? `index.js (nor ${ENTRY_FILES.filter((f) => f !== 'index.js').join(', ')})` : `${describeEntry(handler)} (spec.handler ${JSON.stringify(handler)})`;
  const place = where === 'archive' ? ' at its root or in a single top-level folder' : byDefault ? ' at its root' : '';
  const shownFound = !byDefault || found === undefined ? '' : ` (found: ${found.length === 0 ? 'nothing' : found.slice(0, 8).map(shown).join(', ') + (found.length > 8 ? ', ...' : '')})`;
  return `${where} has no ${what}${place}${shownFound}`;
}

/** Hex characters of the code digest. */
export const DIGEST_LENGTH = 20;

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const DIR_MODE = 0o755;
export const FILE_MODE = 0o644;
export const EXEC_FILE_MODE = 0o755;

/** A name as it may appear in a message: quoted, control characters escaped, not too long. */
export function shown(name: string): string {
  const short = name.length > 200 ? `${name.slice(0, 200)}...` : name;
  return JSON.stringify(short);
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Node's system errors carry `errno` and `syscall`; the zip reader's own errors do not. */
export function isSystemError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { syscall?: unknown }).syscall === 'string';
}
