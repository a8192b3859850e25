import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { startServer, type GlambdarServer } from './server.js';

/** What /info says is true: a broken manifest shows on the functions it manages, and the table names its columns by what they hold. */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-truth-'));
  await mkdir(join(dir, 'manifests', 'hello'), { recursive: true });
  await writeFile(join(dir, 'manifests', 'hello', 'index.js'), 'exports.handler = async () => "hi";');
  await writeFile(join(dir, 'manifests', 'hello.yaml'), manifest('rateLimit: 5'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none' }), sandbox, log: silentLogger });
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

function manifest(extra: string): string {
  return `apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: hello\nspec:\n  code: ./hello\n  minWarm: 1\n  ${extra}\n`;
}

interface Info {
  status: { phase: string; conditions: Array<{ type: string; status: string; reason: string; message: string }> };
}

const info = async (): Promise<Info> => (await (await fetch(`${server.url}/info/hello`)).json()) as Info;
const row = async (): Promise<string[]> => (await (await fetch(`${server.url}/info?format=table`)).text()).trimEnd().split('\n')[1]!.split(/\s+/);

describe('status of a manifest function', () => {
  it('is Degraded with SourceValid=False naming the file\'s error while its manifest is invalid, and Ready again once fixed', async () => {
    await vi.waitFor(async () => expect((await info()).status.phase).toBe('Ready'), { timeout: 5_000, interval: 20 });
    expect((await info()).status.conditions.find((c) => c.type === 'SourceValid')).toMatchObject({ status: 'True', reason: 'ManifestApplied' });
    expect((await row()).slice(8, 11)).toEqual(['hello.yaml', 'Ready', '-']);

    // The watcher picks the edit up once the file has settled (by default 500 ms after its last write).
    await writeFile(join(dir, 'manifests', 'hello.yaml'), manifest('rateLimit: lots'));
    await vi.waitFor(async () => expect((await info()).status.phase).toBe('Degraded'), { timeout: 10_000, interval: 50 });
    const broken = await info();
    expect(broken.status.conditions.find((c) => c.type === 'SourceValid')).toMatchObject({
      status: 'False',
      reason: 'ManifestInvalid',
      message: expect.stringMatching(/^hello\.yaml document 0 \(line 8\): spec\.rateLimit: /),
    });
    // It still serves its last good version.
    expect((await fetch(`${server.url}/invoke/hello`)).status).toBe(200);
    expect((await row()).slice(0, 3)).toEqual(['hello', '1/1', '1']);
    expect((await row()).slice(8, 11)).toEqual(['hello.yaml', 'Degraded', 'ManifestInvalid']);

    await writeFile(join(dir, 'manifests', 'hello.yaml'), manifest('rateLimit: 6'));
    await vi.waitFor(async () => expect((await info()).status.phase).toBe('Ready'), { timeout: 10_000, interval: 50 });
    expect((await row()).slice(8, 11)).toEqual(['hello.yaml', 'Ready', '-']);
  });
});
