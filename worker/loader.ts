/**
 * Loads the user's function once: `index.mjs` (ESM), else `index.js` (CommonJS through
 * `require`, or ESM when its package.json says `"type": "module"` or `require` refuses it),
 * else `index.cjs`. A broken function never crashes the worker: the outcome is a value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ENTRY_FILES } from './entry-files.js';

/** The user's handler: receives the request, returns (a promise of) the response. */
export type Handler = (request: unknown) => unknown;

/** Outcome of {@link loadFunction}; `error` is a readable sentence for the hello frame and logs. */
export type LoadResult = { ok: true; handler: Handler; file: string } | { ok: false; error: string };

/** Loads the function in `fnDir` and resolves its handler. Never rejects. */
export async function loadFunction(dir: string): Promise<LoadResult> {
  const fnDir = resolve(dir);
  const file = ENTRY_FILES.find((name) => existsSync(join(fnDir, name)));
  if (file === undefined) return { ok: false, error: `index.js not found in ${dir}` };
  const path = join(fnDir, file);
  let mod: unknown;
  try {
    mod = await (file === 'index.js' && !isModulePackage(fnDir) ? requireOrImport(path) : importFile(path));
  } catch (err) {
    return { ok: false, error: describeLoadError(err, fnDir, file) };
  }
  const handler = resolveHandler(mod);
  if (handler === undefined) {
    return { ok: false, error: `${file} does not export a handler function (exports.handler)` };
  }
  return { ok: true, handler, file };
}

/** `exports.handler` is the contract; `export default { handler }` and a default function are accepted too. */
function resolveHandler(mod: unknown): Handler | undefined {
  if (typeof mod === 'function') return mod as Handler;
  if (mod === null || typeof mod !== 'object') return undefined;
  const { handler, default: fallback } = mod as { handler?: unknown; default?: unknown };
  if (typeof handler === 'function') return handler as Handler;
  if (typeof fallback === 'function') return fallback as Handler;
  if (fallback !== null && typeof fallback === 'object') {
    const nested = (fallback as { handler?: unknown }).handler;
    if (typeof nested === 'function') return nested as Handler;
  }
  return undefined;
}

function isModulePackage(fnDir: string): boolean {
  const pkg = join(fnDir, 'package.json');
  if (!existsSync(pkg)) return false;
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
  } catch {
    return false; // a broken package.json is Node's to report when it matters
  }
}

/** Returns the exports, or a promise of them when `require` refuses an ES module. */
function requireOrImport(path: string): unknown {
  try {
    return createRequire(path)(path);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') return importFile(path);
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

function locate(stack: string, fnDir: string): string | undefined {
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
    if (!path.startsWith(dir)) continue;
    return `${relative(fnDir, path)}:${match[2]}${match[3] !== undefined ? `:${match[3]}` : ''}`;
  }
  return undefined;
}
