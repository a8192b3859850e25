import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFunction, type LoadOptions, type LoadResult } from '../loader.js';
import { ACCEPTED_SHAPES } from './detect.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function load(files: Record<string, string>, options: LoadOptions = {}): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-detect-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return loadFunction(dir, options);
}

async function detected(files: Record<string, string>, options: LoadOptions = {}): Promise<string> {
  const loaded = await load(files, options);
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.interface;
}

describe('interface detection', () => {
  it('reads the interface from the exports where they are unambiguous', async () => {
    expect(await detected({ 'index.js': 'exports.handler = async () => 1;' })).toBe('glambdar');
    expect(await detected({ 'index.mjs': 'export default { handler: () => 1 };' })).toBe('glambdar');
    expect(await detected({ 'index.js': 'module.exports = async (event, context) => 1;' })).toBe('openfaas');
    expect(await detected({ 'index.js': 'module.exports = { handle: async () => 1 };' })).toBe('knative');
    expect(await detected({ 'index.mjs': 'export const handle = async () => 1;' })).toBe('knative');
    expect(await detected({ 'index.mjs': 'export default async (request) => new Response("x");' })).toBe('fetch');
    expect(await detected({ 'index.mjs': 'export default { fetch: () => new Response("x") };' })).toBe('fetch');
    expect(await detected({ 'index.cjs': 'module.exports = { fetch: () => new Response("x") };' })).toBe('fetch');
  });

  it('keeps the original contract first: a handler export wins over every other shape', async () => {
    expect(await detected({ 'index.js': 'exports.handler = () => 1; exports.handle = () => 2;' })).toBe('glambdar');
  });

  it('never guesses lambda, and takes it, or any other, when the spec names it', async () => {
    expect(await detected({ 'index.mjs': 'export const handler = async (event, context) => ({ statusCode: 200 });' }, { interface: 'lambda' })).toBe('lambda');
    // The original loader also took a function as module.exports: spec.interface glambdar keeps that.
    const legacy = await load({ 'index.js': 'module.exports = async (req) => req.path;' }, { interface: 'glambdar' });
    expect(legacy.ok && legacy.interface).toBe('glambdar');
  });

  it('names the exports it found and the shapes it accepts when none fits', async () => {
    const loaded = await load({ 'index.mjs': 'export const main = () => 1; export const version = 2;' });
    expect(loaded).toEqual({ ok: false, error: `index.mjs fits no handler interface: it exports main (a function), version (a number); accepted: ${ACCEPTED_SHAPES}` });
  });

  it('says what the named interface wanted when its export is missing', async () => {
    const loaded = await load({ 'index.js': 'exports.handler = () => 1;' }, { interface: 'knative' });
    expect(loaded).toEqual({ ok: false, error: "index.js does not export a handle function (Knative's handle(context, body)); it exports handler (a function)" });
  });
});

describe('handler path', () => {
  it('loads the file and the export spec.handler names', async () => {
    const loaded = await load({ 'src/app.js': 'exports.main = async () => "from main";', 'index.js': 'exports.handler = () => "index";' }, { handler: 'src/app.main' });
    expect(loaded.ok && (await loaded.handler({}))).toBe('from main');
    expect(loaded.ok && loaded.interface).toBe('glambdar');
    expect(loaded.ok && loaded.file).toBe('src/app.js');
  });

  it('picks the interface from the export it names: handle is knative, default is fetch', async () => {
    expect(await detected({ 'fn/func.mjs': 'export const handle = () => 1;' }, { handler: 'fn/func.handle' })).toBe('knative');
    expect(await detected({ 'worker.mjs': 'export default { fetch: () => new Response("") };' }, { handler: 'worker.default' })).toBe('fetch');
    expect(await detected({ 'handler.js': 'module.exports = async () => 1;' }, { handler: 'handler', interface: 'openfaas' })).toBe('openfaas');
  });

  it('says which files it looked for when the handler file is missing', async () => {
    const loaded = await load({ 'index.js': 'exports.handler = () => 1;' }, { handler: 'src/app.handler' });
    expect(loaded.ok).toBe(false);
    expect(!loaded.ok && loaded.error).toMatch(/^src\/app\.\{mjs,js,cjs,ts,mts,cts\} not found in .* \(spec\.handler "src\/app\.handler"\)$/);
  });

  it("loads a TypeScript entry's compiled bundle, and says so when there is none", async () => {
    const compiled = await load({ 'index.ts': 'export const handler = (): number => 1;', 'index.ts.glambdar.cjs': 'exports.handler = () => "compiled";' });
    expect(compiled.ok && compiled.typescript).toBe(true);
    expect(compiled.ok && (await compiled.handler({}))).toBe('compiled');
    expect(await load({ 'index.ts': 'export const handler = () => 1;' })).toEqual({ ok: false, error: 'index.ts has no compiled bundle: deploy the function again' });
  });
});
