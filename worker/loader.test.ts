import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFunction } from './loader.js';

const dirs: string[] = [];

/** Writes a fixture function folder and returns its path. */
async function fixture(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-loader-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function handlerOf(files: Record<string, string>): Promise<(req: unknown) => unknown> {
  const loaded = await loadFunction(await fixture(files));
  if (!loaded.ok) throw new Error(`expected a handler, got: ${loaded.error}`);
  return loaded.handler;
}

describe('loadFunction', () => {
  it('loads a CommonJS index.js through exports.handler', async () => {
    const handler = await handlerOf({ 'index.js': 'exports.handler = async () => "cjs";' });
    expect(await handler({})).toBe('cjs');
  });

  it('loads CommonJS that assigns module.exports = { handler }', async () => {
    const handler = await handlerOf({ 'index.js': 'module.exports = { handler: () => "assigned" };' });
    expect(await handler({})).toBe('assigned');
  });

  it('loads an ES module index.mjs', async () => {
    const handler = await handlerOf({ 'index.mjs': 'export async function handler() { return "mjs"; }' });
    expect(await handler({})).toBe('mjs');
  });

  it('prefers index.mjs over index.js', async () => {
    const handler = await handlerOf({
      'index.mjs': 'export const handler = () => "mjs";',
      'index.js': 'exports.handler = () => "js";',
    });
    expect(await handler({})).toBe('mjs');
  });

  it('loads index.js as an ES module when package.json says "type": "module"', async () => {
    const handler = await handlerOf({
      'package.json': '{"type":"module"}',
      'index.js': 'const base = await Promise.resolve("esm-js");\nexport const handler = () => base;',
    });
    expect(await handler({})).toBe('esm-js');
  });

  it('accepts an ES module whose default export holds the handler', async () => {
    const handler = await handlerOf({ 'index.mjs': 'export default { handler: () => "default" };' });
    expect(await handler({})).toBe('default');
  });

  it('reports a missing index.js', async () => {
    const dir = await fixture({ 'other.js': '' });
    expect(await loadFunction(dir)).toEqual({ ok: false, error: `index.js not found in ${dir}` });
  });

  it('reports a module without a handler function', async () => {
    const dir = await fixture({ 'index.js': 'exports.handle = () => 1; exports.handler = 5;' });
    expect(await loadFunction(dir)).toEqual({
      ok: false,
      error: 'index.js does not export a handler function (exports.handler)',
    });
  });

  it('reports a CommonJS syntax error with its file and line', async () => {
    const dir = await fixture({ 'index.js': 'exports.handler = () => 1;\nfunction broken( {\n' });
    const loaded = await loadFunction(dir);
    expect(loaded.ok).toBe(false);
    if (!loaded.ok) {
      expect(loaded.error).toMatch(/^SyntaxError: /);
      expect(loaded.error).toMatch(/\(at index\.js:\d+\)$/);
    }
  });

  it('reports an ES module syntax error instead of throwing', async () => {
    // Under vitest, import() goes through its module runner, whose message differs from
    // Node's; main.test.ts checks Node's own wording in a real worker process.
    const dir = await fixture({ 'index.mjs': 'export const handler = () => 1;\nfunction broken( {\n' });
    const loaded = await loadFunction(dir);
    expect(loaded.ok).toBe(false);
  });

  it('reports an error thrown while loading, with where it was thrown', async () => {
    const dir = await fixture({ 'index.js': '\n\nthrow new TypeError("config missing");\n' });
    const loaded = await loadFunction(dir);
    expect(loaded).toEqual({ ok: false, error: 'TypeError: config missing (at index.js:3:7)' });
  });

  it('reports a missing dependency without crashing', async () => {
    const dir = await fixture({ 'index.js': 'require("no-such-package-xyz"); exports.handler = () => 1;' });
    const loaded = await loadFunction(dir);
    expect(loaded.ok).toBe(false);
    if (!loaded.ok) expect(loaded.error).toContain("Cannot find module 'no-such-package-xyz'");
  });
});
