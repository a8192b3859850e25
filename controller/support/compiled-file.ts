import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the tree this module runs from: `dist/` for built code, the project for the TypeScript sources. */
const TREE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * A file `npm run build` writes under dist/ (a worker thread's script, the container worker
 * bundle): under the tree this module runs from when it is built code, else in the project's
 * dist/ (tests run the TypeScript sources).
 */
export function compiledFile(pathInDist: string): string {
  for (const candidate of [join(TREE_ROOT, pathInDist), join(TREE_ROOT, 'dist', pathInDist)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${pathInDist} not found: run \`npm run build\` first`);
}
