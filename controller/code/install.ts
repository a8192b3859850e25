/**
 * Installs a function's code, from an uploaded zip or from a folder (GitOps manifests), as a
 * version named by the digest of its files: the same files give the same version whichever
 * way they come. The entry (`spec.handler`'s file, default index) must be there; declared
 * dependencies must be in node_modules (./dependencies.ts); a TypeScript entry is compiled into
 * the version (./typescript.ts), the digest staying that of the sources. Layout and rules:
 * ./versions.ts, ./rules.ts; checks: ./zip-archive.ts, ./code-folder.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compiledFilesOf, entryFilesOf, isTypeScript } from '../../worker/entry-files.js';
import { checkFunctionName } from '../support/function-name.js';
import { copyFolder, digestFolder, entryIn, scanFolder, type FolderEntry } from './code-folder.js';
import { checkDependencies } from './dependencies.js';
import { DEFAULT_ARCHIVE_LIMITS, missingEntryMessage, type ArchiveLimits } from './rules.js';
import { checkSyntax } from './syntax-check.js';
import { compileEntry, writeCompiled, type CompiledFile } from './typescript.js';
import { exists, placeVersion, reinstalled, withTempDir, type InstalledCode } from './versions.js';
import { extractChecked, normalizeTree, scanArchive } from './zip-archive.js';

/** Where a function's code comes from: an archive, or a folder holding its entry file. */
export interface CodeSource {
  kind: 'zip' | 'folder';
  path: string;
}

/** How to install: `spec.handler` (null: index at the root) and the size limits. */
export interface InstallOptions {
  handler?: string | null;
  limits?: ArchiveLimits;
}

/** Installs `code` as a version of function `name`: the one place the zip-or-folder choice is made. */
export function installCode(code: CodeSource, functionsDir: string, name: string, options: InstallOptions = {}): Promise<InstalledCode> {
  const limits = options.limits ?? DEFAULT_ARCHIVE_LIMITS;
  const handler = options.handler ?? null;
  return code.kind === 'zip' ? installArchive(code.path, functionsDir, name, limits, handler) : installFolder(code.path, functionsDir, name, limits, handler);
}

/**
 * Unpacks `zipPath` into `<functionsDir>/<name>/<digest>/` safely and returns {digest, codeDir}.
 * The digest is that of the unpacked code (see {@link installFolder}), not of the zip's bytes:
 * the same files zipped again, with other timestamps, order or compression, are the same
 * version, so a CI job that rebuilds its archives on every commit does not replace containers.
 * An already installed version gets only what it lacks (a TypeScript entry's bundle); the new
 * copy is dropped.
 */
export async function installArchive(
  zipPath: string,
  functionsDir: string,
  name: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  handler: string | null = null,
): Promise<InstalledCode> {
  checkFunctionName(name);
  functionsDir = path.resolve(functionsDir); // extract-zip wants an absolute folder
  const { root } = await scanArchive(zipPath, limits, handler);

  return withTempDir(functionsDir, async (tmp) => {
    await extractChecked(zipPath, tmp, limits);
    await normalizeTree(tmp);
    const src = root === '' ? tmp : path.join(tmp, root);
    const entries = await scanFolder(src, limits, handler, 'archive');
    const compiled = await prepare(src, entries, handler);
    const digest = await digestFolder(src, entries, limits);
    await checkSyntax(src, digest, entryIn(entries, handler));
    await writeCompiled(src, compiled);
    const installed = await placeVersion(src, path.join(functionsDir, name, digest), digest);
    if (!installed.created) await writeCompiled(installed.codeDir, compiled, true);
    return installed;
  });
}

/**
 * Same but from a folder holding the entry (used by GitOps manifests): digest = hash over
 * sorted relative paths, executable bits and contents, so a folder and a zip of the same files
 * are one version; copied (no symlinks followed/allowed).
 *
 * `srcDir` itself may be reached through a link (it is the operator's path); nothing inside it may.
 */
export async function installFolder(
  srcDir: string,
  functionsDir: string,
  name: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  handler: string | null = null,
): Promise<InstalledCode> {
  checkFunctionName(name);
  functionsDir = path.resolve(functionsDir);
  const entries = await scanFolder(srcDir, limits, handler);
  const compiled = await prepare(srcDir, entries, handler);

  // First pass reads only: an unchanged folder costs no writes.
  const firstDigest = await digestFolder(srcDir, entries, limits);
  const firstDir = path.join(functionsDir, name, firstDigest);
  if (await exists(firstDir)) {
    await writeCompiled(firstDir, compiled, true);
    await reinstalled(firstDir);
    return { digest: firstDigest, codeDir: firstDir, created: false };
  }

  return withTempDir(functionsDir, async (tmp) => {
    // The digest of a new version is computed from the very bytes that are copied, so a file
    // edited between the two passes cannot leave a code folder that does not match its name.
    const digest = await copyFolder(srcDir, tmp, entries, limits);
    await checkSyntax(tmp, digest, entryIn(entries, handler));
    await writeCompiled(tmp, compiled);
    const installed = await placeVersion(tmp, path.join(functionsDir, name, digest), digest);
    if (!installed.created) await writeCompiled(installed.codeDir, compiled, true);
    return installed;
  });
}

/**
 * Makes an installed version ready for another handler (`POST /config` changing `spec.handler`):
 * its entry must be there, and a TypeScript entry is compiled into it if it was not yet.
 */
export async function prepareInstalled(codeDir: string, handler: string | null, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  const entries = await scanFolder(codeDir, limits, handler);
  const entry = entryIn(entries, handler)!;
  if (!isTypeScript(entry)) return;
  const { esm, cjs } = compiledFilesOf(entry);
  if (entries.some((e) => e.rel === esm || e.rel === cjs)) return; // compiled when it was installed
  await writeCompiled(codeDir, await compileEntry(codeDir, entry), true);
}

/**
 * Why an installed version cannot start from `handler`, or null when it can: its entry file is
 * there and, for a TypeScript one, its bundle too ({@link prepareInstalled} compiles it). Sync
 * and cheap (a few stats), for the desired-state write to check before it writes.
 */
export function entryProblem(codeDir: string, handler: string | null): string | null {
  const entry = entryFilesOf(handler).find((file) => isFileSync(path.join(codeDir, ...file.split('/'))));
  if (entry === undefined) return missingEntryMessage('code folder', handler);
  if (!isTypeScript(entry)) return null;
  const { esm, cjs } = compiledFilesOf(entry);
  if ([esm, cjs].some((file) => isFileSync(path.join(codeDir, ...file.split('/'))))) return null;
  return `${entry} is not compiled in the installed code: deploy it again with this handler`;
}

function isFileSync(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}

/** The checks every install makes before anything is placed, and a TypeScript entry's bundle. */
async function prepare(src: string, entries: readonly FolderEntry[], handler: string | null): Promise<CompiledFile[]> {
  await checkDependencies(src, entries);
  const entry = entryIn(entries, handler)!; // scanFolder made sure there is one
  return isTypeScript(entry) ? compileEntry(src, entry) : [];
}
