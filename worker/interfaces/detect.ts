/**
 * Picks a loaded module's handler interface and its adapter. `spec.interface` decides when set;
 * otherwise the exports do, in this order, the first that fits:
 *
 *   1. a `handler` export (`exports.handler`, `export const handler`, `export default { handler }`) -> glambdar
 *   2. a `handle` function -> knative
 *   3. a function as `module.exports` (CommonJS) -> openfaas
 *   4. a default export that is a function, or an object with a `fetch` method -> fetch
 *
 * `lambda` is never guessed: its export looks like glambdar's. A handler path's export
 * (`spec.handler: "src/app.main"`) names the export instead: `handle` is knative, `default` is
 * fetch, any other name glambdar, unless `spec.interface` says otherwise.
 */
import type { InterfaceName } from '../protocol.js';
import { fetchAdapter, type FetchTarget } from './fetch.js';
import { glambdarAdapter } from './glambdar.js';
import { knativeAdapter } from './knative.js';
import { lambdaAdapter } from './lambda.js';
import { openFaasAdapter } from './openfaas.js';
import type { Invoke, UserFunction, WorkerScope } from './types.js';

/** A module as the loader got it. */
export interface LoadedModule {
  /** `module.exports` (through `require`) or the ES module namespace (through `import()`). */
  exports: unknown;
  /** True when loaded through `require`: a function as `exports` is then `module.exports` itself. */
  commonjs: boolean;
  /** The entry file, relative to the function's folder, for messages. */
  file: string;
}

/** The interface chosen and the adapter that runs the function, or why none fits. */
export type Resolution = { ok: true; interface: InterfaceName; handler: UserFunction; invoke: Invoke } | { ok: false; error: string };

/** What every interface accepts, for the message of a module that fits none. */
export const ACCEPTED_SHAPES =
  'exports.handler = function (glambdar, or lambda with spec.interface "lambda"), module.exports = function (openfaas), ' +
  'exports.handle = function (knative), export default function or export default { fetch } (fetch)';

/** Resolves the handler of `mod` under `wanted` (null: detect), with the handler path's export if any. */
export function resolveInterface(mod: LoadedModule, wanted: InterfaceName | null, exportName: string | null, scope: WorkerScope): Resolution {
  const chosen = wanted ?? (exportName !== null ? byExportName(exportName) : detect(mod));
  if (chosen === null) return { ok: false, error: `${mod.file} fits no handler interface: it exports ${describeExports(mod)}; accepted: ${ACCEPTED_SHAPES}` };
  switch (chosen) {
    case 'glambdar':
    case 'lambda': {
      const handler = exportName !== null ? field(mod.exports, exportName) : (field(mod.exports, 'handler') ?? legacyHandler(mod.exports));
      if (typeof handler !== 'function') {
        return { ok: false, error: `${mod.file} does not export a handler function (exports.${exportName ?? 'handler'})` };
      }
      const fn = handler as UserFunction;
      return { ok: true, interface: chosen, handler: fn, invoke: chosen === 'lambda' ? lambdaAdapter(fn) : glambdarAdapter(fn) };
    }
    case 'openfaas': {
      const handler = exportName !== null ? field(mod.exports, exportName) : typeof mod.exports === 'function' ? mod.exports : field(mod.exports, 'default');
      if (typeof handler !== 'function') {
        return { ok: false, error: `${mod.file} does not export its handler as module.exports = function (the OpenFaaS node20 template's handler.js); it exports ${describeExports(mod)}` };
      }
      return { ok: true, interface: chosen, handler: handler as UserFunction, invoke: openFaasAdapter(handler as UserFunction) };
    }
    case 'knative': {
      const handle = field(mod.exports, exportName ?? 'handle');
      if (typeof handle !== 'function') return { ok: false, error: `${mod.file} does not export a ${exportName ?? 'handle'} function (Knative's handle(context, body)); it exports ${describeExports(mod)}` };
      return { ok: true, interface: chosen, handler: handle as UserFunction, invoke: knativeAdapter(handle as UserFunction) };
    }
    case 'fetch': {
      const target = fetchTarget(mod, exportName);
      if (target === undefined) {
        return { ok: false, error: `${mod.file} has no default export that is a function or an object with a fetch method; it exports ${describeExports(mod)}` };
      }
      const handler = typeof target === 'function' ? target : (target.fetch.bind(target) as UserFunction);
      return { ok: true, interface: chosen, handler, invoke: fetchAdapter(target, scope) };
    }
  }
}

function byExportName(exportName: string): InterfaceName {
  if (exportName === 'handle') return 'knative';
  if (exportName === 'default') return 'fetch';
  return 'glambdar';
}

function detect(mod: LoadedModule): InterfaceName | null {
  if (field(mod.exports, 'handler') !== undefined) return 'glambdar';
  if (typeof field(mod.exports, 'handle') === 'function') return 'knative';
  if (mod.commonjs && typeof mod.exports === 'function') return 'openfaas';
  if (fetchTarget(mod, null) !== undefined) return 'fetch';
  return null;
}

/**
 * An export by name: on the module, or on its default export (CommonJS seen through `import()`,
 * or `export default { handler }`).
 */
function field(exports: unknown, name: string): unknown {
  if (!isObjectLike(exports)) return undefined;
  const own = (exports as Record<string, unknown>)[name];
  if (own !== undefined || name === 'default') return own;
  const fallback = (exports as { default?: unknown }).default;
  return isObjectLike(fallback) ? (fallback as Record<string, unknown>)[name] : undefined;
}

/** What the original loader accepted besides `exports.handler`: a function as the module or its default. */
function legacyHandler(exports: unknown): unknown {
  if (typeof exports === 'function') return exports;
  const fallback = field(exports, 'default');
  return typeof fallback === 'function' ? fallback : undefined;
}

function fetchTarget(mod: LoadedModule, exportName: string | null): FetchTarget | undefined {
  const candidates = exportName !== null ? [field(mod.exports, exportName)] : [field(mod.exports, 'default'), ...(mod.commonjs ? [mod.exports] : [])];
  for (const value of candidates) {
    if (typeof value === 'function') return value as UserFunction;
    if (isObjectLike(value) && typeof (value as { fetch?: unknown }).fetch === 'function') return value as { fetch: UserFunction };
  }
  return undefined;
}

function isObjectLike(value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function');
}

/** The exports, as a message shows them: `module.exports = a function`, or names with their kinds. */
export function describeExports(mod: LoadedModule): string {
  const { exports } = mod;
  if (mod.commonjs && typeof exports === 'function') return 'module.exports = a function';
  if (!isObjectLike(exports)) return `module.exports = ${exports === null ? 'null' : typeof exports}`;
  const names = Object.keys(exports as object).filter((name) => name !== '__esModule' && name !== 'module.exports');
  if (names.length === 0) return 'nothing';
  const shown = names.slice(0, 10).map((name) => `${name} (${kind((exports as Record<string, unknown>)[name])})`);
  return shown.join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '');
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return typeof (value as { fetch?: unknown }).fetch === 'function' ? 'an object with fetch' : 'an object';
  return `a ${typeof value}`;
}
