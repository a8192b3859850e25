import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeZip } from '../../test/zip.js';
import { CompileFailed, InvalidArchive } from '../support/errors.js';
import { entryProblem, installArchive, installCode, installFolder, prepareInstalled } from './install.js';

let work: string;
let functionsDir: string;

beforeEach(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'glambdar-entry-'));
  functionsDir = path.join(work, 'functions');
});

afterEach(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function zip(files: Record<string, string>): Promise<string> {
  const file = path.join(work, `${Math.random().toString(36).slice(2)}.zip`);
  await fs.writeFile(file, await makeZip(files));
  return file;
}

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(work, 'src-'));
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

async function installedNothing(name: string): Promise<void> {
  const left = await fs.readdir(functionsDir).catch(() => []);
  expect(left.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  expect(left).not.toContain(name);
}

const TS_APP = "import type { Req } from './types';\nexport const handler = async (req: Req) => req.path;\n";
const TS_TYPES = 'export interface Req { path: string }\n';

describe('the handler path at deploy', () => {
  it("accepts the handler's file in place of index.js, in a zip and in a folder", async () => {
    const files = { 'src/app.js': 'exports.handler = async () => 1;\n' };
    const fromZip = await installArchive(await zip(files), functionsDir, 'pathed', undefined, 'src/app.handler');
    expect(await fs.readFile(path.join(fromZip.codeDir, 'src/app.js'), 'utf8')).toContain('exports.handler');
    const fromFolder = await installFolder(await folder(files), functionsDir, 'pathed', undefined, 'src/app.handler');
    expect(fromFolder.digest).toBe(fromZip.digest);
  });

  it('refuses code without the handler file, naming the files it looked for', async () => {
    const err = await failure(installCode({ kind: 'zip', path: await zip({ 'index.js': 'exports.handler = () => 1;' }) }, functionsDir, 'nofile', { handler: 'src/app.handler' }));
    expect(err).toBeInstanceOf(InvalidArchive);
    expect(err.message).toBe('archive has no src/app.{mjs,js,cjs,ts,mts,cts} (spec.handler "src/app.handler") at its root or in a single top-level folder');
    const fromFolder = await failure(installCode({ kind: 'folder', path: await folder({ 'index.js': '' }) }, functionsDir, 'nofile', { handler: 'lib/fn' }));
    expect(fromFolder.message).toBe('code folder has no lib/fn.{mjs,js,cjs,ts,mts,cts} (spec.handler "lib/fn")');
    await installedNothing('nofile');
  });

  it('finds the handler file under a single top-level folder, as index.js is found', async () => {
    const installed = await installArchive(await zip({ 'project/src/app.mjs': 'export const handler = () => 1;' }), functionsDir, 'nested', undefined, 'src/app.handler');
    expect(await fs.readdir(installed.codeDir)).toEqual(['src']);
  });
});

describe('TypeScript at deploy', () => {
  it('compiles the entry into the version, whose digest is that of the sources', async () => {
    const files = { 'index.ts': TS_APP, 'types.ts': TS_TYPES };
    const first = await installArchive(await zip(files), functionsDir, 'typed');
    expect((await fs.readdir(first.codeDir)).sort()).toEqual(['index.ts', 'index.ts.glambdar.mjs', 'index.ts.glambdar.mjs.map', 'types.ts']);
    // The same sources, by another way: the same version, nothing written.
    const again = await installFolder(await folder(files), functionsDir, 'typed');
    expect(again).toEqual({ ...first, created: false });
  });

  it('refuses code that does not compile with 400 naming file:line:column, and installs nothing', async () => {
    const err = await failure(installArchive(await zip({ 'index.ts': 'export const handler = (: number) => 1;\n' }), functionsDir, 'broken'));
    expect(err).toBeInstanceOf(CompileFailed);
    expect(err.message).toMatch(/^TypeScript compile failed: index\.ts:1:25: /);
    await installedNothing('broken');
  });

  it('compiles another entry into an installed version when the handler moves to it', async () => {
    const files = { 'index.js': 'exports.handler = () => 1;\n', 'src/other.ts': TS_APP, 'src/types.ts': TS_TYPES };
    const installed = await installArchive(await zip(files), functionsDir, 'moved');
    expect(await fs.readdir(path.join(installed.codeDir, 'src'))).toEqual(['other.ts', 'types.ts']);
    // What the desired-state write checks before it writes: not ready until compiled.
    expect(entryProblem(installed.codeDir, 'src/other.handler')).toBe('src/other.ts is not compiled in the installed code: deploy it again with this handler');
    expect(entryProblem(installed.codeDir, null)).toBeNull();
    await prepareInstalled(installed.codeDir, 'src/other.handler');
    expect(entryProblem(installed.codeDir, 'src/other.handler')).toBeNull();
    expect((await fs.readdir(path.join(installed.codeDir, 'src'))).sort()).toEqual(['other.ts', 'other.ts.glambdar.mjs', 'other.ts.glambdar.mjs.map', 'types.ts']);
    // A deploy of the same zip with that handler finds it compiled already and keeps the version.
    expect(await installArchive(await zip(files), functionsDir, 'moved', undefined, 'src/other.handler')).toEqual({ ...installed, created: false });
    const missing = await failure(prepareInstalled(installed.codeDir, 'src/none.handler'));
    expect(missing.message).toBe('code folder has no src/none.{mjs,js,cjs,ts,mts,cts} (spec.handler "src/none.handler")');
  });
});

describe('dependencies at deploy', () => {
  it('refuses a package.json whose dependencies are not in node_modules, naming them', async () => {
    const files = {
      'index.js': 'exports.handler = () => 1;\n',
      'package.json': JSON.stringify({ dependencies: { 'tiny-pad': '^1.0.0', '@scope/thing': '2', present: '1' } }),
      'node_modules/present/package.json': '{"name":"present"}',
    };
    const err = await failure(installArchive(await zip(files), functionsDir, 'deps'));
    expect(err).toBeInstanceOf(InvalidArchive);
    expect(err.message).toBe(
      'package.json declares dependencies missing from node_modules: "tiny-pad", "@scope/thing". ' +
        'The runtime installs nothing: run npm ci --omit=dev (or npm install) and zip node_modules with the code',
    );
    await installedNothing('deps');
  });

  it('accepts dependencies that are there, scoped ones included, and ignores devDependencies', async () => {
    const files = {
      'index.js': 'exports.handler = () => 1;\n',
      'package.json': JSON.stringify({ dependencies: { '@scope/thing': '2' }, devDependencies: { vitest: '4' } }),
      'node_modules/@scope/thing/index.js': 'module.exports = 1;\n',
    };
    expect((await installArchive(await zip(files), functionsDir, 'deps-ok')).created).toBe(true);
  });

  it("lets a Knative function declare the template's own runtime, whose part the worker plays", async () => {
    const files = { 'index.js': 'module.exports = { handle: async () => 1 };\n', 'package.json': JSON.stringify({ dependencies: { 'faas-js-runtime': '^2.2.2' } }) };
    expect((await installArchive(await zip(files), functionsDir, 'func')).created).toBe(true);
  });

  it('refuses a package.json that is not JSON', async () => {
    const err = await failure(installArchive(await zip({ 'index.js': '', 'package.json': '{ "dependencies": ' }), functionsDir, 'badpkg'));
    expect(err.message).toMatch(/^package\.json is not valid JSON: /);
  });
});
