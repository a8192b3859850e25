import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import {
  control,
  deploy,
  docker,
  eventually,
  functionContainers,
  info,
  instanceContainers,
  integrationEnabled,
  invoke,
  makeZip,
  useRuntimes,
  type TestRuntime,
} from './harness.js';

/** Reads its secret and answers a digest of it, what its secrets folder lists, and whether it can write there. */
const READER = `const fs = require('fs');
const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };
exports.handler = async () => ({
  digest: attempt(() => require('crypto').createHash('sha256').update(fs.readFileSync('/var/glambdar/secrets/db-password')).digest('hex')),
  listed: attempt(() => fs.readdirSync('/var/glambdar/secrets')),
  write: attempt(() => { fs.writeFileSync('/var/glambdar/secrets/db-password', 'x'); return 'written'; }),
  plant: attempt(() => { fs.writeFileSync('/var/glambdar/secrets/planted', 'x'); return 'written'; }),
});
`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Waits until at least one stem cell is ready, so the next first start is stem-born. */
async function stemCellReady(rt: TestRuntime): Promise<void> {
  await eventually(async () => {
    const text = await (await control(rt, '/metrics')).text();
    return Number(/^glambdar_stem_cells_ready (\d+)$/m.exec(text)?.[1] ?? 0) >= 1 ? true : undefined;
  }, 30_000, 'a stem cell');
}

/** `docker inspect` of every container of the instance, as one text (one removed meanwhile is skipped). */
async function inspectAll(rt: TestRuntime): Promise<string> {
  const all = await instanceContainers(rt.instanceId);
  const inspected = await Promise.all(all.map((c) => docker.getContainer(c.Id).inspect().catch(() => null)));
  const found = inspected.filter((i) => i !== null);
  expect(found.length).toBeGreaterThan(0);
  return JSON.stringify(found);
}

describe.runIf(integrationEnabled)('secrets as files, on a real Docker engine', () => {
  const start = useRuntimes();

  it('a function reads its secret, another cannot, no value shows anywhere, and a new value rolls the containers', async () => {
    const rt = await start();
    const first = 'correct horse battery staple';
    const put = await control(rt, '/secrets/db-password', { method: 'PUT', body: first });
    expect(put.status).toBe(201);
    await control(rt, '/secrets/unrelated', { method: 'PUT', body: 'not for anyone here' });

    // The first start of the reader is stem-born: the cell got its secret at specialisation.
    await stemCellReady(rt);
    expect((await deploy(rt.url, 'reader.zip', await makeZip({ 'index.js': READER }), { secrets: 'db-password' })).status).toBe(201);
    expect((await deploy(rt.url, 'nosy.zip', await makeZip({ 'index.js': READER }))).status).toBe(201);
    const fromStem = await invoke(rt.url, 'reader');
    expect(fromStem.status).toBe(200);
    expect((await info(rt, 'reader')).status.containers.some((c) => c.fromStemCell)).toBe(true);
    expect(await fromStem.json()).toEqual({ digest: sha256(first), listed: ['db-password'], write: 'EROFS', plant: 'EROFS' });

    // Once a labelled container has replaced the stem-born one, the same.
    await eventually(async () => ((await info(rt, 'reader')).status.containers.every((c) => !c.fromStemCell && c.state === 'ready') ? true : undefined), 30_000, 'labelled reader');
    expect(await (await invoke(rt.url, 'reader')).json()).toEqual({ digest: sha256(first), listed: ['db-password'], write: 'EROFS', plant: 'EROFS' });
    // A function without the secret sees an empty folder.
    expect(await (await invoke(rt.url, 'nosy')).json()).toEqual({ digest: 'ENOENT', listed: [], write: 'EROFS', plant: 'EROFS' });

    // No value in docker inspect (env, labels, mounts), /info, /metrics or logs.
    const readers = await functionContainers(rt, 'reader');
    const [inspected] = await Promise.all(readers.map((c) => docker.getContainer(c.Id).inspect()));
    expect(inspected?.Mounts.find((m) => m.Destination === '/var/glambdar/secrets')).toMatchObject({ RW: false });
    const seen = [await inspectAll(rt), ...(await Promise.all(['/info', '/info/reader', '/info/nosy', '/metrics', '/logs/reader', '/logs/nosy', '/secrets'].map(async (p) => (await control(rt, p)).text())))].join('\n');
    expect(seen).toContain('db-password');
    expect(seen).not.toContain(first);

    // A new value: the reader's containers roll, with no failed request, and it sees the new value.
    const before = readers.map((c) => c.Id);
    let rolling = true;
    const statuses: number[] = [];
    const traffic = (async () => {
      while (rolling) statuses.push((await invoke(rt.url, 'reader')).status);
    })();
    const second = 'a new password';
    expect(await (await control(rt, '/secrets/db-password', { method: 'PUT', body: second })).json()).toMatchObject({ status: 'updated', rolled: ['reader'] });
    try {
      await eventually(async () => {
        const body = (await (await invoke(rt.url, 'reader')).json()) as { digest: string };
        const now = await functionContainers(rt, 'reader');
        const running = now.filter((c) => c.State === 'running');
        return body.digest === sha256(second) && running.length > 0 && running.every((c) => !before.includes(c.Id)) ? true : undefined;
      }, 30_000, 'the reader rolled to the new value');
    } finally {
      rolling = false;
      await traffic;
    }
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    for (const id of before) await eventually(async () => ((await docker.listContainers({ all: true, filters: { id: [id] } })).length === 0 ? true : undefined), 20_000, 'old container gone');
    expect(await inspectAll(rt)).not.toContain(second);
    // The other function was not touched, and reads nothing still.
    expect(await (await invoke(rt.url, 'nosy')).json()).toMatchObject({ digest: 'ENOENT', listed: [] });
    expect((await instanceContainers(rt.instanceId)).every((c) => c.Labels[LABELS.function] !== 'reader' || !before.includes(c.Id))).toBe(true);
  });
});
