import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../worker/framing.js';
import type { InvokeHeader, ResultHeader } from '../../worker/protocol.js';
import { FakeRuntime } from '../../worker/testing/fake-runtime.js';
import { CompileFailed, InvalidArchive } from '../support/errors.js';
import { compileEntry, writeCompiled } from './typescript.js';

let root: string;
let workerMain: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'glambdar-ts-'));
  // The worker as containers run it, to see its stack traces map to .ts lines.
  workerMain = join(root, 'worker', 'main.cjs');
  await build({
    entryPoints: [join(dirname(fileURLToPath(import.meta.url)), '../../worker/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    outfile: workerMain,
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let count = 0;
async function code(files: Record<string, string>): Promise<string> {
  const dir = join(root, `fn-${++count}`);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

/** A tiny package in the code's own node_modules, as `npm install` leaves it. */
const LEFT_PAD = {
  'node_modules/tiny-pad/package.json': '{"name":"tiny-pad","version":"1.0.0","main":"index.js"}',
  'node_modules/tiny-pad/index.js': 'module.exports = (text, n) => String(text).padStart(n, ".");',
};

const APP = `import type { Order } from './types';
import pad from 'tiny-pad';
import { total } from './lib/total';

export const handler = async (req: { path: string }) => {
  const order: Order = { id: 7, items: [2, 3] };
  if (req.path === '/fail') {
    throw new Error('order ' + order.id + ' failed');
  }
  return { id: pad(order.id, 3), total: total(order.items) };
};
`;

const TS_FILES = {
  'src/app.ts': APP,
  'src/types.ts': 'export interface Order { id: number; items: number[] }\n',
  'src/lib/total.ts': 'export const total = (items: number[]): number => items.reduce((a, b) => a + b, 0);\n',
  ...LEFT_PAD,
};

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('compileEntry', () => {
  it('bundles an ES module entry with its own files beside it, packages left as imports, with a source map', async () => {
    const dir = await code(TS_FILES);
    const files = await compileEntry(dir, 'src/app.ts');
    expect(files.map((f) => f.rel).sort()).toEqual(['src/app.ts.glambdar.mjs', 'src/app.ts.glambdar.mjs.map']);
    const bundle = Buffer.from(files.find((f) => f.rel.endsWith('.mjs'))!.contents).toString();
    expect(bundle).toContain('from "tiny-pad"');
    expect(bundle).toContain('reduce((a, b) => a + b, 0)');
    expect(bundle).not.toContain(dir);
    // The same sources compile to the same bytes.
    expect(await compileEntry(dir, 'src/app.ts')).toEqual(files);
  });

  it('gives a CommonJS source a CommonJS bundle, so module.exports stays what its author wrote', async () => {
    const dir = await code({ 'index.ts': 'module.exports = async (event: unknown, context: unknown) => "ok";\n' });
    expect((await compileEntry(dir, 'index.ts')).map((f) => f.rel).sort()).toEqual(['index.ts.glambdar.cjs', 'index.ts.glambdar.cjs.map']);
  });

  it('refuses code that does not compile, naming file:line:column and no host path', async () => {
    const dir = await code({ 'src/app.ts': 'export const handler = () => {\n  const x: number = ;\n};\n' });
    const err = await failure(compileEntry(dir, 'src/app.ts'));
    expect(err).toBeInstanceOf(CompileFailed);
    expect(err.message).toBe('TypeScript compile failed: src/app.ts:2:21: Unexpected ";"');
  });

  it('refuses a package missing from the code, and a file outside it', async () => {
    const missing = await failure(compileEntry(await code({ 'index.ts': "import pad from 'tiny-pad';\nexport const handler = () => pad('x', 2);\n" }), 'index.ts'));
    expect(missing).toBeInstanceOf(CompileFailed);
    expect(missing.message).toMatch(/^TypeScript compile failed: index\.ts:1:17: cannot find package "tiny-pad" in the code's node_modules/);
    const outside = await failure(compileEntry(await code({ 'index.ts': "import x from '../../secret';\nexport const handler = () => x;\n" }), 'index.ts'));
    expect(outside.message).toContain('cannot find "../../secret" inside the function\'s code');
  });

  it('refuses code that already holds a file named like the bundle', async () => {
    const dir = await code({ 'index.ts': 'export const handler = () => 1;\n', 'index.ts.glambdar.mjs': 'export const handler = () => 2;\n' });
    const err = await failure(compileEntry(dir, 'index.ts'));
    expect(err).toBeInstanceOf(InvalidArchive);
    expect(err.message).toBe('the code holds "index.ts.glambdar.mjs", a name reserved for the compiled bundle of "index.ts"');
  });
});

describe('a compiled TypeScript function in the worker', () => {
  it('runs, and an error names the .ts file and line in the response and in the log', async () => {
    const dir = await code(TS_FILES);
    await writeCompiled(dir, await compileEntry(dir, 'src/app.ts'));
    expect((await readdir(join(dir, 'src'))).sort()).toEqual(['app.ts', 'app.ts.glambdar.mjs', 'app.ts.glambdar.mjs.map', 'lib', 'types.ts']);
    expect(await readFile(join(dir, 'src/app.ts.glambdar.mjs.map'), 'utf8')).toContain('"sources"');

    const runtime = await FakeRuntime.listen(join(root, `ts-${count}.sock`));
    const child = spawn(process.execPath, [workerMain], {
      env: { PATH: process.env['PATH'], GLAMBDAR_SOCKET: runtime.path, GLAMBDAR_FN_DIR: dir, GLAMBDAR_HANDLER: 'src/app.handler' },
      stdio: 'ignore',
    });
    try {
      const conn = await runtime.accept();
      const send = (id: number, path: string) =>
        conn.socket.write(encodeFrame({ t: 'invoke', id, method: 'GET', path, query: {}, headers: {}, requestId: `r${id}`, timeoutMs: 5000 } satisfies InvokeHeader));
      send(1, '/');
      send(2, '/fail');
      const frames = await conn.next(3);
      expect(frames[0]?.header).toMatchObject({ t: 'hello', loadError: null, interface: 'glambdar' });
      const byId = new Map(frames.slice(1).map((f) => [(f.header as ResultHeader).id, f]));
      expect(JSON.parse(byId.get(1)!.body.toString())).toEqual({ id: '..7', total: 5 });
      const failed = byId.get(2)!.header as ResultHeader;
      expect(failed.statusCode).toBe(500);
      expect(failed.error).toBe('order 7 failed (at src/app.ts:8:11)');
      expect(failed.stderr).toMatch(/Error: order 7 failed\n\s+at handler \(.*src\/app\.ts:8:11\)/);
    } finally {
      child.kill('SIGKILL');
      await runtime.close();
    }
  });
});
