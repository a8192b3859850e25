/**
 * The deploy-time syntax check of a function's entry file: `node --check` parses it (as the
 * worker would load it: CommonJS or ES module by its extension and package.json) without
 * running any of it, in a process of its own with a deadline. A syntax error is refused with
 * `file:line` and node's message, before the version is installed, so a typo answers the
 * deploy with 400 instead of failing the first invocation.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidCode } from '../support/errors.js';
import { ENTRY_FILES } from './rules.js';

/** How long the check may take; past it the code is accepted (the worker reports load errors anyway). */
const CHECK_TIMEOUT_MS = 10_000;
/** The files `node --check` parses: JavaScript in either module system. */
const CHECKED_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

/** Digests of code whose entry parsed: the same files deployed under another name are not checked again. */
const parsedDigests = new Set<string>();
const MAX_REMEMBERED = 10_000;

/** The entry file of a code folder, as the worker picks it: the first of ENTRY_FILES that exists. */
async function entryOf(codeDir: string): Promise<string | undefined> {
  for (const name of ENTRY_FILES) {
    const info = await stat(path.join(codeDir, name)).catch(() => undefined);
    if (info?.isFile()) return name;
  }
  return undefined;
}

/**
 * Refuses (InvalidCode) an entry file of `codeDir` that does not parse. `digest` (of the whole
 * folder) spares a second check of the same code; `entry` defaults to the worker's choice
 * among ENTRY_FILES. Only .js, .mjs and .cjs files are checked.
 */
export async function checkSyntax(codeDir: string, digest?: string, entry?: string): Promise<void> {
  const key = digest === undefined ? undefined : `${digest}:${entry ?? ''}`;
  if (key !== undefined && parsedDigests.has(key)) return;
  await checkOnce(codeDir, entry);
  if (key === undefined) return;
  if (parsedDigests.size >= MAX_REMEMBERED) parsedDigests.clear();
  parsedDigests.add(key);
}

async function checkOnce(codeDir: string, entry: string | undefined): Promise<void> {
  const file = entry ?? (await entryOf(codeDir));
  if (file === undefined || !CHECKED_EXTENSIONS.has(path.extname(file))) return;
  const absolute = path.join(codeDir, file);
  const stderr = await new Promise<string | null>((resolve) => {
    execFile(
      process.execPath,
      ['--check', absolute],
      { cwd: codeDir, env: { PATH: process.env['PATH'] ?? '' }, timeout: CHECK_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
      (err, _stdout, stderrText) => resolve(err && !err.killed && typeof err.code === 'number' ? stderrText : null),
    );
  });
  if (stderr === null) return;
  throw new InvalidCode(describeSyntaxError(stderr, absolute, file));
}

/**
 * `index.js:3: SyntaxError: Unexpected token '}'` from node's report, which starts with
 * `<path>:<line>` and names the error on a line of its own; the host path never shows.
 */
export function describeSyntaxError(stderr: string, absolute: string, shownAs: string): string {
  const lines = stderr.split('\n');
  const where = lines[0]?.startsWith(`${absolute}:`) ? `${shownAs}:${lines[0].slice(absolute.length + 1).trim()}` : shownAs;
  const error = lines.find((line) => /^[A-Za-z]*Error: /.test(line)) ?? 'SyntaxError: the file does not parse';
  const source = lines[1]?.trim();
  return `${where}: ${error.split(absolute).join(shownAs)}${source ? ` (near: ${source.slice(0, 120)})` : ''}`;
}
