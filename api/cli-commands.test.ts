import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { compiledFile } from '../controller/support/compiled-file.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

/** Runs the built CLI with `env`: by default a local user of the test server (its URL, its data folder, where the CLI finds the token). */
function cli(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, GLAMBDAR_URL: server.url, GLAMBDAR_DIR: dir };
  delete base['GLAMBDAR_TOKEN'];
  return new Promise((resolve) => {
    execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A control-plane request with the admin token the runtime wrote into its data folder. */
async function control(path: string, init: RequestInit = {}): Promise<Response> {
  const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  return fetch(`${server.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
}

async function deploy(name: string, files: Record<string, string>): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip(files))]), `${name}.zip`);
  expect((await control('/deploy', { method: 'POST', body: form })).status).toBe(201);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-cli-cmd-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }), sandbox, log: silentLogger, watchManifests: false });
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('the glambdar command line (issue 23, item 7)', () => {
  it('prints the help for a bare glambdar, -h, --help and help, exits 0, and creates no data folder', async () => {
    const home = join(dir, 'no-such-home');
    for (const args of [[], ['-h'], ['--help'], ['help']]) {
      const run = await cli({ GLAMBDAR_DIR: home, HOME: home }, ...args);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^usage: glambdar <command>/);
      expect(run.stdout).toContain('serve [--cleanup-on-exit]');
    }
    await expect(access(home)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says a command is unknown and exits 2', async () => {
    const run = await cli({}, 'frobnicate');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('glambdar: unknown command "frobnicate"; run glambdar help for the commands\n');
  });

  it('prints the version of its package.json with --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', 'version']) {
      const run = await cli({}, flag);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`glambdar ${version}\n`);
    }
  });

  it('serve on a port in use says which port and which variable, and exits 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const run = await cli({ GLAMBDAR_DIR: join(dir, 'serve-data'), GLAMBDAR_PORT: String(port), GLAMBDAR_STEM_CELLS: '0', GLAMBDAR_LOG_LEVEL: 'silent' }, 'serve');
      expect(run.stderr).toBe(`glambdar: port ${port} is in use (GLAMBDAR_PORT); stop what listens there, or set GLAMBDAR_PORT to another port\n`);
      expect(run.code).toBe(1);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('serve refuses an argument it does not take, naming it', async () => {
    const run = await cli({ GLAMBDAR_DIR: join(dir, 'serve-data') }, 'serve', '--port=9000');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^glambdar: serve: unknown argument "--port=9000"/);
  });
});

describe('readable output, and -o for machines (issue 23, item 9)', () => {
  beforeAll(async () => {
    // process.stdout.write, not console.log: vitest replaces the console of this process.
    await deploy('greet', { 'index.js': 'process.stdout.write("loaded\\n");\nexports.handler = async (req) => { process.stdout.write("hello " + req.path + "\\n"); return "hi"; };' });
    expect((await fetch(`${server.url}/invoke/greet/one`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${server.url}/invoke/greet/two`, { method: 'POST' })).status).toBe(200);
  });

  it('info NAME describes the function as kubectl describe does; -o json and -o yaml give the API object', async () => {
    // Its standby (made after the first answer) is part of what it has.
    const standby = await vi.waitFor(
      async () => {
        const info = (await (await control('/info/greet')).json()) as { status: { standby: { id: string; revision: number } | null } };
        expect(info.status.standby).toMatchObject({ id: expect.any(String), revision: 1 });
        return info.status.standby!;
      },
      { timeout: 5_000, interval: 20 },
    );
    const human = await cli({}, 'info', 'greet');
    expect(human.stdout).toContain(`Standby:\n  ${standby.id.slice(0, 12)} (revision 1, created, not started)\n`);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Name: +greet$/m);
    expect(human.stdout).toMatch(/^Source: +api$/m);
    expect(human.stdout).toMatch(/^Invocations: +2$/m);
    expect(human.stdout).toMatch(/^Conditions:\n {2}TYPE +STATUS +REASON +MESSAGE\n/m);
    expect(human.stdout).not.toContain('{');

    const api = (await (await control('/info/greet')).json()) as { name: string; generation: number };
    const json = await cli({}, 'info', 'greet', '-o', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'greet', generation: api.generation });
    const yaml = await cli({}, 'info', 'greet', '--output=yaml');
    expect(parse(yaml.stdout)).toMatchObject({ name: 'greet', generation: api.generation });
  });

  it('info lists a table, -o wide adds columns, and -o refuses a format it does not have', async () => {
    const table = await cli({}, 'info');
    expect(table.stdout.split('\n')[0]!.split(/\s+/)).toContain('READY');
    const wide = await cli({}, 'info', '-o', 'wide');
    expect(wide.stdout.split('\n')[0]!.split(/\s+/)).toEqual(expect.arrayContaining(['NAME', 'MIN', 'MAX', 'CONCURRENCY', 'MEMORY', 'DIGEST']));
    expect(wide.stdout).toMatch(/^greet\s/m);
    const bad = await cli({}, 'info', '-o', 'xml');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('glambdar: -o takes json, yaml or wide, not "xml"\n');
  });

  it('logs prints each record as time, status, duration and request id, then its output, oldest first', async () => {
    const run = await cli({}, 'logs', 'greet');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}200 {2}[\d.]+ ms {2}[0-9a-f-]{36}/);
    expect(lines.filter((l) => l.startsWith('    | '))).toEqual(['    | loaded', '    | hello /one', '    | hello /two']);
    const json = await cli({}, 'logs', 'greet', '-o', 'json');
    expect((JSON.parse(json.stdout) as Array<{ stdout: string }>).map((r) => r.stdout)).toEqual(['hello /two\n', 'loaded\nhello /one\n']);
  });

  it('logs --container prints what the function printed outside invocations, one line each', async () => {
    await vi.waitFor(
      async () => {
        const run = await cli({}, 'logs', 'greet', '--container');
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(/^\S+Z {2}\S+ {2}\| loaded$/m);
      },
      { timeout: 5_000, interval: 50 },
    );
  });
});
