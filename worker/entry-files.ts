/**
 * Where a function's code starts: the handler path (`spec.handler`, Lambda's `file.export`), the
 * files it may name, in the order the worker tries them, and where a TypeScript entry's compiled
 * bundle lies. The runtime checks the same files at deploy (controller/code/ imports this), so
 * what deploys is what loads.
 */

/** JavaScript entries, tried first: code that needs no compiling. */
const JS_EXTENSIONS = ['.mjs', '.js', '.cjs'] as const;
/** TypeScript entries, compiled at deploy into {@link compiledFilesOf}. */
const TS_EXTENSIONS = ['.ts', '.mts', '.cts'] as const;
/** The file a function starts from when `spec.handler` is unset. */
const DEFAULT_FILE = 'index';

/** A handler path split: the file without its extension, and the export (null: the interface's own). */
export interface HandlerPath {
  file: string;
  exportName: string | null;
}

/**
 * Splits `spec.handler`: the part after the last `.` of the last segment is the export
 * (`src/app.handler` -> `src/app`, `handler`); without a dot the whole is the file. null: `index`.
 */
export function parseHandler(handler: string | null | undefined): HandlerPath {
  if (handler === null || handler === undefined || handler === '') return { file: DEFAULT_FILE, exportName: null };
  const slash = handler.lastIndexOf('/');
  const dot = handler.lastIndexOf('.');
  if (dot <= slash) return { file: handler, exportName: null };
  return { file: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

/** The files (relative, `/`-separated) a handler may start from, in the order they are tried. */
export function entryFilesOf(handler: string | null | undefined): string[] {
  const { file } = parseHandler(handler);
  return [...JS_EXTENSIONS, ...TS_EXTENSIONS].map((ext) => file + ext);
}

/** The default entry files, at the root: `index.mjs`, `index.js`, `index.cjs`, then TypeScript. */
export const ENTRY_FILES: readonly string[] = entryFilesOf(null);

/** True for an entry the runtime compiles at deploy. */
export function isTypeScript(file: string): boolean {
  return TS_EXTENSIONS.some((ext) => file.endsWith(ext));
}

/**
 * The bundle a TypeScript entry compiles to, beside it (so paths relative to the module still
 * hold), as an ES module or, for CommonJS sources, a CommonJS file: `src/app.ts` ->
 * `src/app.ts.glambdar.mjs` or `src/app.ts.glambdar.cjs`, each with its `.map`. The worker
 * loads whichever exists; the runtime writes one.
 */
export function compiledFilesOf(entry: string): { esm: string; cjs: string } {
  return { esm: `${entry}${COMPILED_SUFFIX}.mjs`, cjs: `${entry}${COMPILED_SUFFIX}.cjs` };
}

/** What a compiled bundle's name adds to its source's; a zip may not hold files named so. */
export const COMPILED_SUFFIX = '.glambdar';

/** A handler path as messages show it: the file names tried, e.g. `src/app.{mjs,js,cjs,ts,mts,cts}`. */
export function describeEntry(handler: string | null | undefined): string {
  const { file } = parseHandler(handler);
  return `${file}.{${[...JS_EXTENSIONS, ...TS_EXTENSIONS].map((ext) => ext.slice(1)).join(',')}}`;
}
