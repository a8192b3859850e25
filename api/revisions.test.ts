import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/**
 * Revisions, rollback, traffic splits and tagged routes through the HTTP API, with containers
 * replaced by in-process workers (FakeSandbox): everything but Docker is real.
 */

const version = (v: string) => `exports.handler = async () => ({ body: { version: '${v}' } });`;

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

async function start(): Promise<GlambdarServer> {
  return startServer({
    config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, queueTimeoutMs: 5000, revisionHistory: 10 }),
    sandbox,
    log: silentLogger,
    watchManifests: false,
  });
}

async function deploy(name: string, handler: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': handler }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return control(`/deploy`, { method: 'POST', body: form });
}

/** A control-route request with the admin token the runtime wrote into its data folder. */
async function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

function post(path: string, body?: unknown): Promise<Response> {
  return control(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function invoke(target: string): Promise<{ status: number; revision: string | null; version: string | undefined }> {
  const res = await fetch(`${server.url}/invoke/${target}`);
  const body = (await res.json()) as { version?: string };
  return { status: res.status, revision: res.headers.get('x-glambdar-revision'), version: body.version };
}

interface RevisionBody {
  revision: number;
  digest: string;
  spec: Record<string, unknown>;
  traffic: number;
  tags: string[];
  latest: boolean;
  replicas: number;
  readyReplicas: number;
}

async function revisions(name: string): Promise<RevisionBody[]> {
  return (await (await control(`/revisions/${name}`)).json()) as RevisionBody[];
}

async function generation(name: string): Promise<number> {
  return ((await (await control(`/info/${name}`)).json()) as { generation: number }).generation;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-rev-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await start();
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('revisions and rollback', () => {
  it('keeps each version as a revision and rolls back in one call, as a new generation with that code', async () => {
    for (const v of ['v1', 'v2', 'v3']) expect((await deploy('ver', version(v))).ok).toBe(true);
    // The same files again are the same version: no new revision.
    expect(await (await deploy('ver', version('v3'))).json()).toMatchObject({ status: 'updated', generation: 3 });
    const kept = await revisions('ver');
    expect(kept.map((r) => [r.revision, r.traffic, r.latest])).toEqual([
      [1, 0, false],
      [2, 0, false],
      [3, 100, true],
    ]);
    expect(new Set(kept.map((r) => r.digest)).size).toBe(3);
    expect(kept[0]!.spec).toMatchObject({ maxConcurrency: 10, memoryMb: 128 });
    expect(kept[0]!.spec).not.toHaveProperty('traffic');
    expect(await invoke('ver')).toEqual({ status: 200, revision: '3', version: 'v3' });

    const rolled = await post('/rollback/ver', { revision: 1 });
    expect(rolled.status).toBe(200);
    expect(await rolled.json()).toEqual({ function: 'ver', status: 'rolled back', generation: 4, revision: 4, rolledBackTo: 1 });
    await vi.waitFor(async () => expect(await invoke('ver')).toEqual({ status: 200, revision: '4', version: 'v1' }), { timeout: 5_000, interval: 20 });
    const after = await revisions('ver');
    expect(after.map((r) => r.revision)).toEqual([1, 2, 3, 4]);
    expect(after[3]!.digest).toBe(after[0]!.digest);

    // No body: the revision before the latest (3).
    expect(await (await post('/rollback/ver')).json()).toMatchObject({ status: 'rolled back', generation: 5, rolledBackTo: 3 });
    await vi.waitFor(async () => expect(await invoke('ver')).toEqual({ status: 200, revision: '5', version: 'v3' }), { timeout: 5_000, interval: 20 });
    // The code of every kept revision stays on disk, and only it.
    expect((await readdir(join(dir, 'functions', 'ver'))).sort()).toEqual([...new Set(after.map((r) => r.digest))].sort());
  });

  it('makes a spec change a revision that keeps its containers when only function-wide fields changed', async () => {
    await deploy('ver', version('v1'));
    expect((await invoke('ver')).revision).toBe('1');
    const starts = sandbox.starts;
    expect(await (await post('/config/ver', { rateLimit: 100 })).json()).toMatchObject({ generation: 2 });
    await vi.waitFor(async () => expect((await revisions('ver')).map((r) => [r.revision, r.replicas])).toEqual([[1, 0], [2, 1]]), {
      timeout: 5_000,
      interval: 20,
    });
    expect(await invoke('ver')).toEqual({ status: 200, revision: '2', version: 'v1' });
    expect(sandbox.starts).toBe(starts);
  });

  it('refuses a rollback of a manifest-owned function with 409 naming the file', async () => {
    const code = join(dir, 'owned');
    await mkdir(code);
    await writeFile(join(code, 'index.js'), version('v1'));
    await server.runtime.deploy({ name: 'owned', code: { kind: 'folder', path: code }, patch: {}, source: 'manifest', manifestPath: 'team/owned.yaml' });
    const res = await post('/rollback/owned', { revision: 1 });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'OWNED_BY_MANIFEST', error: expect.stringContaining('team/owned.yaml') });
  });
});

describe('traffic split and tags', () => {
  it('splits requests by weight, names the revision in a header, records and metrics, and reaches a tag whatever the split', async () => {
    for (const v of ['v1', 'v2', 'v3']) await deploy('split', version(v));
    const set = await post('/config/split', {
      traffic: [
        { revision: 1, percent: 75, tag: 'stable' },
        { latestRevision: true, percent: 25, tag: 'canary' },
        { revision: 2, percent: 0, tag: 'old' },
      ],
    });
    expect(set.status).toBe(200);
    expect(await generation('split')).toBe(4);
    // A traffic change is routing, not a revision.
    expect((await revisions('split')).map((r) => [r.revision, r.traffic, r.tags])).toEqual([
      [1, 75, ['stable']],
      [2, 0, ['old']],
      [3, 25, ['canary']],
    ]);

    const answers = [];
    for (let i = 0; i < 400; i++) answers.push(await invoke('split'));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.every((a) => (a.revision === '1' && a.version === 'v1') || (a.revision === '3' && a.version === 'v3'))).toBe(true);
    const ones = answers.filter((a) => a.revision === '1').length / answers.length;
    expect(ones).toBeGreaterThan(0.65);
    expect(ones).toBeLessThan(0.85);

    expect(await invoke('split@old')).toEqual({ status: 200, revision: '2', version: 'v2' });
    expect(await invoke('split@stable')).toEqual({ status: 200, revision: '1', version: 'v1' });
    expect(await invoke('split@canary')).toEqual({ status: 200, revision: '3', version: 'v3' });
    const tagged = await fetch(`${server.url}/invoke/split@old/some/path?x=1`);
    expect(tagged.headers.get('x-glambdar-revision')).toBe('2');
    const nosuch = await fetch(`${server.url}/invoke/split@nosuch`);
    expect(nosuch.status).toBe(404);
    expect(await nosuch.json()).toEqual({ error: 'function "split" has no traffic tag "nosuch"', code: 'TAG_NOT_FOUND' });

    const info = (await (await control(`/info/split`)).json()) as { revision: number; traffic: unknown[] };
    expect(info.revision).toBe(3);
    expect(info.traffic).toEqual([
      { revision: 1, percent: 75, tags: ['stable'], latestRevision: false },
      { revision: 2, percent: 0, tags: ['old'], latestRevision: false },
      { revision: 3, percent: 25, tags: ['canary'], latestRevision: true },
    ]);
    const table = await (await control(`/info?format=table`)).text();
    expect(table).toContain('1:75%@stable 2:0%@old 3:25%@canary');
    const revisionTable = await (await control(`/revisions/split?format=table`)).text();
    expect(revisionTable.split('\n')[0]?.split(/\s+/)).toEqual(['REVISION', 'DIGEST', 'TRAFFIC', 'TAGS', 'READY', 'AGE']);
    expect(revisionTable).toMatch(/^3 \(latest\)\s+\S+\s+25%\s+canary\s+\d+\/\d+/m);

    const logs = (await (await control(`/logs/split?limit=1000`)).json()) as Array<{ revision: number }>;
    expect(new Set(logs.map((r) => r.revision))).toEqual(new Set([1, 2, 3]));
    const metrics = await (await control(`/metrics`)).text();
    expect(metrics).toMatch(/^glambdar_invocation_responses_total\{function="split",revision="1",code="200"\} \d+$/m);
    expect(metrics).toMatch(/^glambdar_invocation_responses_total\{function="split",revision="3",code="200"\} \d+$/m);
    expect(metrics).toMatch(/^glambdar_traffic_percent\{function="split",revision="1"\} 75$/m);
  });

  it('refuses bad traffic and bad rollbacks with 400 naming what was wrong, and applies nothing', async () => {
    await deploy('bad', version('v1'));
    await deploy('bad', version('v2'));
    const cases: Array<[string, unknown, RegExp]> = [
      ['/config/bad', { traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 40 }] }, /traffic: percentages must sum to 100; these sum to 90/],
      ['/config/bad', { traffic: [{ revision: 9, percent: 100 }] }, /traffic\.0\.revision: revision 9 of function "bad" is not kept \(kept: 1, 2\)/],
      [
        '/config/bad',
        { traffic: [{ revision: 1, percent: 50, tag: 'a' }, { latestRevision: true, percent: 50, tag: 'a' }] },
        /traffic\.1\.tag: tag "a" is used by more than one entry/,
      ],
      ['/config/bad', { traffic: [{ revision: 1, latestRevision: true, percent: 100 }] }, /traffic\.0\.revision: an entry names either a revision or latestRevision/],
      ['/config/bad', { traffic: [{ revision: 1, percent: 100, tag: 'Not OK' }] }, /traffic\.0\.tag: must be a DNS label/],
      ['/config/bad', { traffic: [{ revision: 1, percent: 100, weight: 3 }] }, /unknown field in traffic\.0: weight/],
      ['/rollback/bad', { revision: 7 }, /revision: revision 7 of function "bad" is not kept \(kept: 1, 2\)/],
      ['/rollback/bad', { tag: 'nosuch' }, /tag: function "bad" has no traffic tag "nosuch"/],
      ['/rollback/bad', { revision: 1, tag: 'x' }, /give a revision or a tag, not both/],
    ];
    for (const [path, body, message] of cases) {
      const res = await post(path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const answer = (await res.json()) as { error: string; code: string };
      expect(answer.code).toBe('INVALID_INPUT');
      expect(answer.error).toMatch(message);
    }
    expect(await generation('bad')).toBe(2);
    expect((await revisions('bad')).map((r) => r.revision)).toEqual([1, 2]);
    // A deploy form field carries traffic as JSON, checked the same way.
    const form = await deploy('bad', version('v3'), { traffic: JSON.stringify([{ revision: 5, percent: 100 }]) });
    expect(form.status).toBe(400);
    expect(await generation('bad')).toBe(2);
  });

  it('removes the split with traffic: null, sending every request to the latest revision again', async () => {
    await deploy('back', version('v1'));
    await deploy('back', version('v2'));
    await post('/config/back', { traffic: [{ revision: 1, percent: 100 }] });
    expect(await invoke('back')).toMatchObject({ revision: '1', version: 'v1' });
    await post('/config/back', { traffic: null });
    // A rolling update: revision 1's container answers (and says so) until revision 2's is ready.
    await vi.waitFor(async () => expect(await invoke('back')).toMatchObject({ revision: '2', version: 'v2' }), { timeout: 5_000, interval: 20 });
    expect((await revisions('back')).map((r) => r.traffic)).toEqual([0, 100]);
  });

  it('keeps revisions, traffic and tags across a restart and adopts every serving revision\'s containers', async () => {
    await deploy('kept', version('v1'));
    await deploy('kept', version('v2'));
    await post('/config/kept', { traffic: [{ revision: 1, percent: 50, tag: 'one' }, { latestRevision: true, percent: 50, tag: 'two' }] });
    expect(await invoke('kept@one')).toMatchObject({ revision: '1' });
    expect(await invoke('kept@two')).toMatchObject({ revision: '2' });
    const before = await revisions('kept');
    const starts = sandbox.starts;
    await server.close(500);

    server = await start();
    await vi.waitFor(async () => expect((await revisions('kept')).map((r) => r.readyReplicas)).toEqual(before.map((r) => r.readyReplicas)), {
      timeout: 5_000,
      interval: 20,
    });
    expect((await revisions('kept')).map((r) => [r.revision, r.traffic, r.tags, r.digest])).toEqual(before.map((r) => [r.revision, r.traffic, r.tags, r.digest]));
    expect(await invoke('kept@one')).toMatchObject({ revision: '1', version: 'v1' });
    expect(await invoke('kept@two')).toMatchObject({ revision: '2', version: 'v2' });
    expect(sandbox.starts).toBe(starts);
  });

  it('deletes every revision, its containers and its code with the function', async () => {
    await deploy('gone', version('v1'));
    await deploy('gone', version('v2'));
    await post('/config/gone', { traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 50 }] });
    await invoke('gone');
    await invoke('gone');
    await vi.waitFor(async () => expect((await revisions('gone')).every((r) => r.replicas > 0)).toBe(true), { timeout: 5_000, interval: 20 });
    expect((await control(`/del/gone`, { method: 'DELETE' })).status).toBe(200);
    expect((await control(`/revisions/gone`)).status).toBe(404);
    expect([...sandbox.containers.values()].filter((c) => c.info.functionName === 'gone')).toEqual([]);
    await expect(readdir(join(dir, 'functions', 'gone'))).rejects.toThrow();
  });

  it('exports the latest revision under its revision number, with the split as Knative traffic', async () => {
    await deploy('out', version('v1'));
    await deploy('out', version('v2'));
    await post('/config/out', { traffic: [{ revision: 1, percent: 30, tag: 'old' }, { latestRevision: true, percent: 70 }] });
    expect(await generation('out')).toBe(3);
    const yaml = await (await control(`/export/out?format=knative`)).text();
    expect(yaml).toContain('name: out-r2');
    expect(yaml).toMatch(/revisionName: out-r1\n\s+percent: 30\n\s+tag: old/);
  });

  it('queues an async job for the revision a tag names, and refuses an unknown tag with 404, queueing nothing', async () => {
    await deploy('later', version('v1'));
    await deploy('later', version('v2'));
    await post('/config/later', { traffic: [{ latestRevision: true, percent: 100 }, { revision: 1, tag: 'first' }] });
    const queued = await fetch(`${server.url}/async/later@first/some/path`, { method: 'POST', body: '{}' });
    expect(queued.status).toBe(202);
    const { requestId } = (await queued.json()) as { requestId: string };
    const job = await vi.waitFor(
      async () => {
        const view = (await (await control(`/invocations/${requestId}`)).json()) as { status: string; tag: string; response: { body: string } };
        expect(view.status).toBe('succeeded');
        return view;
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(job.tag).toBe('first');
    expect(JSON.parse(job.response.body)).toEqual({ version: 'v1' });
    const logs = (await (await control(`/logs/later?limit=10`)).json()) as Array<{ requestId: string; revision: number }>;
    expect(logs.find((r) => r.requestId === requestId)?.revision).toBe(1);

    const unknown = await fetch(`${server.url}/async/later@nosuch`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'TAG_NOT_FOUND' });
    const jobs = (await (await control(`/invocations?function=later`)).json()) as unknown[];
    expect(jobs).toHaveLength(1);
  });
});
