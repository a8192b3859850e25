/**
 * TypeScript entries, compiled at deploy with esbuild: the entry and the files it imports from
 * the code are bundled into one file beside the entry (worker/entry-files.ts names it), with a
 * source map, so stack traces name `.ts` lines. Packages stay imports, resolved at run time from
 * the code's own `node_modules` as a JavaScript function's are; each must be found there now,
 * and nothing outside the code folder is read. ES module sources give an ES module bundle,
 * CommonJS sources (`module.exports = ...`) a CommonJS one, so the worker sees the exports the
 * author wrote. The output depends only on the sources, so recompiling the same code gives the
 * same bytes.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import * as path from 'node:path';
import { build, type BuildFailure, type Format, type Message, type Plugin } from 'esbuild';
import { compiledFilesOf } from '../../worker/entry-files.js';
import { CompileFailed, InvalidArchive } from '../support/errors.js';
import { FILE_MODE, shown } from './rules.js';

/** One output file, by its path relative to the code folder. */
export interface CompiledFile {
  rel: string;
  contents: Uint8Array;
}

/** Errors shown in a compile failure's message; the rest are counted. */
const MAX_ERRORS_SHOWN = 3;
/** Marks the resolutions the guard asks esbuild for itself. */
const GUARD_RESOLVING = Symbol('glambdar-guard');

/**
 * Compiles `entry` (relative, `/`-separated) of the code in `root`. Throws CompileFailed naming
 * `file:line:column` of the first errors, or InvalidArchive when the code already holds a file
 * named like the bundle. Writes nothing: {@link writeCompiled} does.
 */
export async function compileEntry(root: string, entry: string): Promise<CompiledFile[]> {
  const names = compiledFilesOf(entry);
  for (const name of [names.esm, names.cjs]) {
    if (await isPresent(path.join(root, ...name.split('/')))) {
      throw new InvalidArchive(`the code holds ${shown(name)}, a name reserved for the compiled bundle of ${shown(entry)}`);
    }
  }
  const esm = await bundle(root, entry, 'esm');
  if (esm.sourceFormat !== 'cjs') return esm.files;
  return (await bundle(root, entry, 'cjs')).files;
}

/**
 * Writes compiled files into `dir` (a code folder, or the temporary one it is made in), each
 * to a temporary name first and renamed into place, the map before the bundle: a worker never
 * sees half a file. `onlyMissing` leaves files already there alone (an installed version).
 */
export async function writeCompiled(dir: string, files: readonly CompiledFile[], onlyMissing = false): Promise<void> {
  const ordered = [...files].sort((a, b) => Number(b.rel.endsWith('.map')) - Number(a.rel.endsWith('.map')));
  for (const file of ordered) {
    const dest = path.join(dir, ...file.rel.split('/'));
    if (onlyMissing && (await isPresent(dest))) continue;
    const temp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
    await fs.writeFile(temp, file.contents, { mode: FILE_MODE, flag: 'wx' });
    await fs.chmod(temp, FILE_MODE);
    await fs.rename(temp, dest);
  }
}

async function bundle(root: string, entry: string, format: Format): Promise<{ files: CompiledFile[]; sourceFormat: string | undefined }> {
  const names = compiledFilesOf(entry);
  const outRel = format === 'esm' ? names.esm : names.cjs;
  const hasTsconfig = await isPresent(path.join(root, 'tsconfig.json'));
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: path.join(root, ...outRel.split('/')),
      write: false,
      metafile: true,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format,
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'silent',
      // The code's own tsconfig.json, never one of the folders above it.
      ...(hasTsconfig ? { tsconfig: 'tsconfig.json' } : { tsconfigRaw: '{}' }),
      // An ES module bundle keeps `require` working for sources that mix it with imports.
      ...(format === 'esm' ? { banner: { js: "import { createRequire as __glambdarCreateRequire } from 'node:module'; const require = __glambdarCreateRequire(import.meta.url);" } } : {}),
      plugins: [stayInside(root)],
    });
    const files = result.outputFiles.map((file) => ({ rel: path.relative(root, file.path).split(path.sep).join('/'), contents: file.contents }));
    return { files, sourceFormat: result.metafile.inputs[entry]?.format };
  } catch (err) {
    if (isBuildFailure(err)) throw new CompileFailed(describeFailure(err.errors, root), { cause: err });
    throw err;
  }
}

/**
 * Resolves every import as esbuild would, then keeps the code to itself: a file outside the
 * code folder is an error (its bytes would leave the host), a package must resolve inside the
 * code's `node_modules` and stays an import (Node loads it at run time, as for JavaScript);
 * Node's built-in modules stay imports.
 */
function stayInside(root: string): Plugin {
  const inside = (file: string) => file === root || file.startsWith(root + path.sep);
  const modules = path.join(root, 'node_modules');
  return {
    name: 'glambdar-stay-inside',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === GUARD_RESOLVING) return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const found = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: GUARD_RESOLVING });
        const bare = !args.path.startsWith('.') && !args.path.startsWith('/');
        if (found.errors.length > 0 || (!found.external && !inside(found.path))) {
          const text = bare
            ? `cannot find package ${JSON.stringify(args.path)} in the code's node_modules: zip node_modules with the code (npm ci --omit=dev)`
            : `cannot find ${JSON.stringify(args.path)} inside the function's code`;
          return { errors: [{ text }] };
        }
        // A package stays an import; a bare name that tsconfig "paths" map to the code is bundled.
        if (found.external || (bare && found.path.startsWith(modules + path.sep))) return { path: args.path, external: true };
        return { path: found.path, namespace: found.namespace, sideEffects: found.sideEffects, suffix: found.suffix };
      });
    },
  };
}

/** `src/app.ts:3:7: Expected ";" but found ":"` (1-based column), a few of them; no host path. */
function describeFailure(errors: readonly Message[], root: string): string {
  const lines = errors.slice(0, MAX_ERRORS_SHOWN).map((e) => {
    const where = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : '';
    return `${where}${e.text}`.split(root + path.sep).join('').split(root).join('.');
  });
  const more = errors.length > MAX_ERRORS_SHOWN ? ` (and ${errors.length - MAX_ERRORS_SHOWN} more)` : '';
  return `TypeScript compile failed: ${lines.join('; ')}${more}`;
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

async function isPresent(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}
