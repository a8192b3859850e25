import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A file `npm run build` writes under dist/ (a worker thread's script, the container worker
 * bundle), found from the module that needs it, which sits one folder below the root of its
 * tree: under dist/ itself when running built code, else in the project's dist/ (tests run
 * the TypeScript sources).
 */
export function compiledFile(fromModuleUrl: string, pathInDist: string): string {
  const treeRoot = dirname(dirname(fileURLToPath(fromModuleUrl)));
  for (const candidate of [join(treeRoot, pathInDist), join(treeRoot, 'dist', pathInDist)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${pathInDist} not found: run \`npm run build\` first`);
}
