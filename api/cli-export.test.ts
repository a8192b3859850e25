import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledFile } from '../controller/support/compiled-file.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { makeZip } from '../test/zip.js';
import { readBack } from './export/testing.js';
import { startServer, type GlambdarServer } from './server.js';

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
/** The admin token the runtime wrote into its data folder, as a client of the control routes sends it. */
let auth: Record<string, string>;

/** Runs the built CLI (`npm test` builds first) against the test server. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The CLI finds the admin token in the runtime's data folder, as it does in ~/.glambdar for a local user.
    const env: NodeJS.ProcessEnv = { ...process.env, GLAMBDAR_URL: server.url, GLAMBDAR_DIR: dir };
    delete env['GLAMBDAR_TOKEN'];
    execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-cli-export-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }), sandbox, log: silentLogger, watchManifests: false });
  auth = { authorization: `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}` };
  for (const name of ['hello', 'other']) {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }))]), `${name}.zip`);
    await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: auth });
  }
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('glambdar export', () => {
  it('prints the YAML the runtime returns for one function, ready for kubectl apply -f -', async () => {
    const out = await cli('export', 'hello', '--format', 'knative', '--image-prefix', 'ghcr.io/acme');
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(await (await fetch(`${server.url}/export/hello?format=knative&imagePrefix=ghcr.io%2Facme`, { headers: auth })).text());
    expect(readBack(out.stdout).map((d) => d.kind)).toEqual(['Service', 'NetworkPolicy']);
    expect(out.stdout).toMatch(/image: ghcr\.io\/acme\/hello:r1-[0-9a-f]{12}\n/);
  });

  it('prints every function with --all, flags also as --flag=value', async () => {
    const out = await cli('export', '--all', '--format=kubernetes');
    expect(out.code).toBe(0);
    expect(readBack(out.stdout).filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name).sort()).toEqual(['hello', 'other']);
  });

  it('writes errors to stderr, never to the stdout kubectl reads, and exits 1', async () => {
    const bad = await cli('export', 'hello', '--format', 'helm');
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(JSON.parse(bad.stderr)).toEqual({ error: 'invalid query: format: must be one of: knative, kubernetes', code: 'INVALID_INPUT' });
    const neither = await cli('export', '--format', 'knative');
    expect(neither).toMatchObject({ code: 1, stdout: '', stderr: 'glambdar: export needs a function name or --all (not both)\n' });
    const ghost = await cli('export', 'ghost', '--format', 'knative');
    expect(ghost).toMatchObject({ code: 1, stdout: '' });
    expect(JSON.parse(ghost.stderr)).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
  });
});
