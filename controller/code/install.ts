/**
 * Installs a function's code, from an uploaded zip or from a folder (GitOps manifests), as a
 * version named by the digest of its files: the same files give the same version whichever
 * way they come. Layout and rules: ./versions.ts, ./rules.ts; checks: ./zip-archive.ts,
 * ./code-folder.ts.
 */
import * as path from 'node:path';
import { checkFunctionName } from '../support/function-name.js';
import { copyFolder, digestFolder, scanFolder } from './code-folder.js';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './rules.js';
import { checkSyntax } from './syntax-check.js';
import { exists, placeVersion, reinstalled, withTempDir, type InstalledCode } from './versions.js';
import { assertEntryPoint, extractChecked, normalizeTree, scanArchive } from './zip-archive.js';

/** Where a function's code comes from: an archive, or a folder holding its entry file. */
export interface CodeSource {
  kind: 'zip' | 'folder';
  path: string;
}

/** Installs `code` as a version of function `name`: the one place the zip-or-folder choice is made. */
export function installCode(code: CodeSource, functionsDir: string, name: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<InstalledCode> {
  return code.kind === 'zip' ? installArchive(code.path, functionsDir, name, limits) : installFolder(code.path, functionsDir, name, limits);
}


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
  checkFunctionName(name);
  functionsDir = path.resolve(functionsDir); // extract-zip wants an absolute folder
  const { root } = await scanArchive(zipPath, limits);

  return withTempDir(functionsDir, async (tmp) => {
    await extractChecked(zipPath, tmp, limits);
    await normalizeTree(tmp);
    const src = root === '' ? tmp : path.join(tmp, root);
    await assertEntryPoint(src);
    const digest = await digestFolder(src, await scanFolder(src, limits), limits);
    await checkSyntax(src, digest);
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
  checkFunctionName(name);
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
    await checkSyntax(tmp, digest);
    return placeVersion(tmp, path.join(functionsDir, name, digest), digest);
  });
}
