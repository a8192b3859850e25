/**
 * Dependencies at deploy: the runtime installs nothing (containers have no network, and nothing
 * is fetched at run time), so a package.json's `dependencies` must be in the code's own
 * node_modules. A code that forgot them is refused before anything is written, instead of
 * failing at its first invocation with "Cannot find module".
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArchive } from '../support/errors.js';
import type { FolderEntry } from './code-folder.js';

/**
 * Packages a platform's template declares for its own runtime, whose part the worker plays:
 * `func`'s Node.js template lists `faas-js-runtime`, the server that calls `handle`. A function
 * brought unchanged may declare them without shipping them.
 */
export const PLATFORM_PACKAGES: ReadonlySet<string> = new Set(['faas-js-runtime']);

/** Names shown in the message; the rest are counted. */
const MAX_NAMES_SHOWN = 10;

/**
 * Refuses code whose root package.json declares `dependencies` that its root node_modules does
 * not hold (`node_modules/<name>`, scoped names too), naming them; {@link PLATFORM_PACKAGES} aside. `entries` is the code's
 * listing (code-folder.ts `scanFolder`), so no path is followed.
 */
export async function checkDependencies(root: string, entries: readonly FolderEntry[]): Promise<void> {
  if (!entries.some((e) => !e.isDir && e.rel === 'package.json')) return;
  let pkg: unknown;
  try {
    pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
  } catch (err) {
    throw new InvalidArchive(`package.json is not valid JSON: ${(err as Error).message}`);
  }
  const declared = (pkg as { dependencies?: unknown } | null)?.dependencies;
  if (declared === null || typeof declared !== 'object' || Array.isArray(declared)) return;
  const folders = new Set(entries.filter((e) => e.isDir).map((e) => e.rel));
  const missing = Object.keys(declared).filter((name) => !PLATFORM_PACKAGES.has(name) && !folders.has(`node_modules/${name}`));
  if (missing.length === 0) return;
  const names = missing.slice(0, MAX_NAMES_SHOWN).map((name) => JSON.stringify(name)).join(', ');
  const more = missing.length > MAX_NAMES_SHOWN ? ` and ${missing.length - MAX_NAMES_SHOWN} more` : '';
  throw new InvalidArchive(
    `package.json declares dependencies missing from node_modules: ${names}${more}. ` +
      'The runtime installs nothing: run npm ci --omit=dev (or npm install) and zip node_modules with the code',
  );
}
