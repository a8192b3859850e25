/**
 * Loads the user's function once and adapts it to its handler interface. The entry is the
 * handler path's file (`spec.handler`, default `index`): `.mjs` (ESM), else `.js` (CommonJS
 * through `require`, or ESM when its package.json says `"type": "module"` or `require` refuses
 * it), else `.cjs`, else a TypeScript entry's bundle compiled at deploy. A broken function never
 * crashes the worker: the outcome is a value.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiledFilesOf, describeEntry, entryFilesOf, isTypeScript, parseHandler } from './entry-files.js';
import { resolveInterface } from './interfaces/detect.js';
import { installAwsLambdaGlobal } from './interfaces/lambda-stream.js';
import { DETACHED_SCOPE, type Invoke, type WorkerScope } from './interfaces/types.js';
import type { InterfaceName } from './protocol.js';

/** The user's handler as exported: what the interface's adapter calls. */
export type Handler = (...args: unknown[]) => unknown;

/**
 * Outcome of {@link loadFunction}; `error` is a readable sentence for the hello frame and logs.
 * `typescript`: the entry was compiled from TypeScript, so errors name their `.ts` lines.
 */
export type LoadResult =
  | { ok: true; handler: Handler; invoke: Invoke; interface: InterfaceName; file: string; typescript: boolean }
  | { ok: false; error: string };

/** What decides the entry and the interface: `spec.handler` and `spec.interface` (null: defaults). */
export interface LoadOptions {
  interface?: InterfaceName | null;
  handler?: string | null;
  /** Where fetch's `ctx.waitUntil` registers its promises (the worker's drain waits for them). */
  scope?: WorkerScope;
}

/** Loads the function in `dir`, picks its interface and builds its adapter. Never rejects. */
export async function loadFunction(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  const fnDir = resolve(dir);
  const handlerPath = options.handler ?? null;
  const file = entryFilesOf(handlerPath).find((name) => isFile(join(fnDir, name)));
  if (file === undefined) {
    return { ok: false, error: handlerPath === null ? `index.js not found in ${dir}` : `${describeEntry(handlerPath)} not found in ${dir} (spec.handler ${JSON.stringify(handlerPath)})` };
  }
  const typescript = isTypeScript(file);
  // Lambda modules call awslambda.streamifyResponse as they load.
  installAwsLambdaGlobal();
  let mod: unknown;
  let commonjs: boolean;
  try {
    if (typescript) {
      const compiled = compiledFilesOf(file);
      const esm = isFile(join(fnDir, compiled.esm));
      if (!esm && !isFile(join(fnDir, compiled.cjs))) return { ok: false, error: `${file} has no compiled bundle: deploy the function again` };
      // Stack traces then name the .ts lines (the bundles carry source maps); only for these,
      // since mapping costs every Error.stack.
      process.setSourceMapsEnabled(true);
      commonjs = !esm;
      mod = await (esm ? importFile(join(fnDir, compiled.esm)) : createRequire(join(fnDir, compiled.cjs))(join(fnDir, compiled.cjs)));
    } else {
      const path = join(fnDir, file);
      const loaded = file.endsWith('.mjs') || (file.endsWith('.js') && isModulePackage(fnDir, dirname(path))) ? { mod: importFile(path), commonjs: false } : requireOrImport(path);
      commonjs = loaded.commonjs;
      mod = await loaded.mod;
    }
  } catch (err) {
    return { ok: false, error: describeLoadError(err, fnDir, file) };
  }
  const resolved = resolveInterface({ exports: mod, commonjs, file }, options.interface ?? null, parseHandler(handlerPath).exportName, options.scope ?? DETACHED_SCOPE);
  if (!resolved.ok) return resolved;
  return { ok: true, handler: resolved.handler, invoke: resolved.invoke, interface: resolved.interface, file, typescript };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Whether the nearest package.json from `dir` up to the function's folder says `"type": "module"`. */
function isModulePackage(fnDir: string, dir: string): boolean {
  for (let at = dir; ; at = dirname(at)) {
    const pkg = join(at, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false; // a broken package.json is Node's to report when it matters
      }
    }
    if (at === fnDir || !at.startsWith(fnDir + sep)) return false;
  }
}

/** The exports through `require`, or the promise of a namespace when `require` refuses an ES module. */
function requireOrImport(path: string): { mod: unknown; commonjs: boolean } {
  try {
    return { mod: createRequire(path)(path), commonjs: true };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') return { mod: importFile(path), commonjs: false };
    throw err;
  }
}

function importFile(path: string): Promise<unknown> {
  return import(pathToFileURL(path).href) as Promise<unknown>;
}

/**
 * `Name: message (at index.js:3)`. The location is the first stack line naming a file of
 * the function, shown relative to its folder; CommonJS syntax errors put it on the first
 * line of the stack, and ES module syntax errors carry none, so the file name stands in.
 */
export function describeLoadError(err: unknown, fnDir: string, file: string): string {
  if (err === null || typeof err !== 'object' || typeof (err as Error).message !== 'string') {
    return String(err);
  }
  const { name, message, stack } = err as Error;
  const head = `${typeof name === 'string' && name !== '' ? name : 'Error'}: ${message}`;
  const where = locate(typeof stack === 'string' ? stack : '', fnDir);
  if (where !== undefined) return `${head} (at ${where})`;
  return name === 'SyntaxError' ? `${head} (in ${file})` : head;
}

/**
 * Where a TypeScript function's error was thrown: ` (at src/app.ts:12:9)`, from the first stack
 * frame in one of its `.ts` files (source-mapped), or '' when none is.
 */
export function sourceLocation(err: unknown, fnDir: string): string {
  const stack = err !== null && typeof err === 'object' ? (err as { stack?: unknown }).stack : undefined;
  if (typeof stack !== 'string') return '';
  const where = locate(stack, resolve(fnDir), (path) => isTypeScript(path) && !path.split(sep).includes('node_modules'));
  return where === undefined ? '' : ` (at ${where})`;
}

function locate(stack: string, fnDir: string, accept: (path: string) => boolean = () => true): string | undefined {
  const dir = fnDir.endsWith(sep) ? fnDir : fnDir + sep;
  const dirUrl = pathToFileURL(dir).href;
  for (const line of stack.split('\n')) {
    const match = /((?:file:\/\/)?\/[^\s():]+):(\d+)(?::(\d+))?/.exec(line);
    if (match === null) continue;
    const raw = match[1] as string;
    let path: string;
    try {
      path = raw.startsWith('file://') ? (raw.startsWith(dirUrl) ? fileURLToPath(raw) : '') : raw;
    } catch {
      continue;
    }
    if (!path.startsWith(dir) || !accept(path)) continue;
    return `${relative(fnDir, path)}:${match[2]}${match[3] !== undefined ? `:${match[3]}` : ''}`;
  }
  return undefined;
}
