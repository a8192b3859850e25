import type Docker from 'dockerode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import {
  control,
  deploy,
  docker,
  eventually,
  functionContainers,
  integrationEnabled,
  invoke,
  makeZip,
  info,
  lastLog,
  useRuntimes,
  type TestRuntime,
} from './harness.js';

const STEM_METRIC = 'glambdar_stem_cells_ready';

/** The `glambdar_stem_cells_ready` gauge of `/metrics`; fails when the metric is missing. */
async function stemCellsReady(rt: TestRuntime): Promise<number> {
  const text = await (await control(rt, `/metrics`)).text();
  const match = new RegExp(`^${STEM_METRIC} (\\d+)$`, 'm').exec(text);
  if (!match) throw new Error(`/metrics has no ${STEM_METRIC} gauge`);
  return Number(match[1]);
}

/** Waits until at least `count` stem cells are ready (the metric throwing fails at the deadline). */
function stemCellsAtLeast(rt: TestRuntime, count: number, timeoutMs = 20_000): Promise<number> {
  return eventually(async () => {
    const n = await stemCellsReady(rt);
    return n >= count ? n : undefined;
  }, timeoutMs, `${STEM_METRIC} >= ${count}`);
}

/** Every generic stem container (any state) of one Glambdar instance. */
function stemContainers(instanceId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instanceId}`, `${LABELS.stem}=1`] } });
}

const MIB = 1024 * 1024;

/** Answers a sum, shows its env, and probes its sandbox from inside. */
const PROBE_HANDLER = `const fs = require('fs');
const os = require('os');
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
exports.handler = async (req) => {
  const data = (await req.json()) || {};
  return {
    statusCode: 200,
    body: {
      sum: (data.a || 0) + (data.b || 0),
      greeting: process.env.GREETING === undefined ? null : process.env.GREETING,
      nodeEnv: process.env.NODE_ENV,
      workerVars: Object.keys(process.env).filter((k) => k.startsWith('GLAMBDAR_')),
      interfaces: Object.keys(os.networkInterfaces()),
      uid: process.getuid(),
      gid: process.getgid(),
      etcWrite: tryWrite('/etc/probe'),
      codeWrite: tryWrite('/fn/probe'),
      tmpWrite: tryWrite('/tmp/probe'),
      // Docker sets a container's hostname to its short id: this tells which container answered.
      host: os.hostname(),
    },
  };
};
`;

/** The container's CPU quota once it is `expected` (for `eventually`), else undefined. */
async function cpuQuotaOnce(id: string, expected: number): Promise<number | undefined> {
  const quota = (await docker.getContainer(id).inspect()).HostConfig.CpuQuota;
  return quota === expected ? quota : undefined;
}

/** The hardening settings of a container, as Docker reports them (paths left out). */
function hardening(c: Docker.ContainerInspectInfo) {
  const h = c.HostConfig;
  return {
    user: c.Config.User,
    networkDisabled: (c.Config as { NetworkDisabled?: boolean }).NetworkDisabled ?? false,
    networkMode: h.NetworkMode,
    readonlyRootfs: h.ReadonlyRootfs,
    capDrop: h.CapDrop,
    capAdd: h.CapAdd ?? null,
    securityOpt: h.SecurityOpt,
    privileged: h.Privileged,
    pidsLimit: h.PidsLimit,
    memory: h.Memory,
    memorySwap: h.MemorySwap,
    ipcMode: h.IpcMode,
    tmpfs: h.Tmpfs,
    mounts: c.Mounts.map((m) => ({ destination: m.Destination, rw: m.RW })).sort((a, b) => a.destination.localeCompare(b.destination)),
  };
}

describe.runIf(integrationEnabled)('stem cells on a real Docker engine', () => {
  const start = useRuntimes();

  it('specialises a stem cell for a first invoke, with the function env and full isolation, then replaces it with a labelled container', async () => {
    const rt = await start();
    // The default keeps 2 cells of the default size; wait for both so the refill is observable.
    await stemCellsAtLeast(rt, 2);
    const cells = await stemContainers(rt.instanceId);
    const cellInspected = await docker.getContainer(cells[0]!.Id).inspect();

    const deployed = await deploy(rt.url, 'stemmy.zip', await makeZip({ 'index.js': PROBE_HANDLER }), { env: JSON.stringify({ GREETING: 'hi' }) });
    expect(deployed.status).toBe(201);
    const res = await invoke(rt.url, 'stemmy', { a: 2, b: 3 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    const { host, ...rest } = body;
    expect(rest).toEqual({
      sum: 5,
      greeting: 'hi',
      nodeEnv: 'production',
      workerVars: [],
      interfaces: ['lo'],
      uid: 65534,
      gid: 65534,
      etcWrite: 'EROFS',
      codeWrite: 'EROFS',
      tmpWrite: 'written',
    });
    // The first request was answered by one of the stem cells.
    expect(cells.map((c) => c.Id.slice(0, 12))).toContain(host);
    expect(await lastLog(rt, 'stemmy')).toMatchObject({ statusCode: 200, coldStart: true });

    // An idle cell keeps its start-up boost, 1 CPU of a 10 ms period: the function it is given
    // loads and answers first with it, then gets its spec's quota (the pool's unit tests).
    expect(cellInspected.HostConfig.CpuPeriod).toBe(10_000);
    expect(cellInspected.HostConfig.CpuQuota).toBe(10_000);
    const stemHardening = hardening(cellInspected);
    expect(stemHardening).toMatchObject({
      user: '65534:65534',
      networkDisabled: true,
      networkMode: 'none',
      readonlyRootfs: true,
      capDrop: ['ALL'],
      privileged: false,
      memory: 128 * MIB,
      memorySwap: 128 * MIB,
    });
    expect(stemHardening.securityOpt).toContain('no-new-privileges');
    expect(stemHardening.pidsLimit).toBeGreaterThan(0);
    expect(stemHardening.pidsLimit).toBeLessThanOrEqual(128);
    // No host folder a container can write: code, worker, the runtime's socket folder and the
    // container's own secrets folder, all read-only.
    expect(stemHardening.mounts.map((m) => m.destination)).toEqual(['/fn', '/run/glambdar', '/var/glambdar/secrets', '/worker']);
    expect(stemHardening.mounts.every((m) => !m.rw)).toBe(true);

    // A labelled container of the function takes over; the stem-born one goes.
    const labelled = await eventually(async () => {
      const containers = (await info(rt, 'stemmy')).status.containers;
      return containers.length === 1 && !containers[0]!.fromStemCell && containers[0]!.state === 'ready' ? containers : undefined;
    }, 15_000, 'the labelled replacement');
    const replacement = await docker.getContainer(labelled[0]!.id).inspect();
    expect(replacement.Config.Labels[LABELS.function]).toBe('stemmy');
    expect(replacement.Name).toBe(`/glambdar-${rt.instanceId}-stemmy-${replacement.Config.Labels[LABELS.replica]}`);
    expect(hardening(replacement)).toEqual(stemHardening);
    const again = (await (await invoke(rt.url, 'stemmy', { a: 1, b: 1 })).json()) as { sum: number; host: string; greeting: string };
    expect(again).toMatchObject({ sum: 2, greeting: 'hi', host: labelled[0]!.id.slice(0, 12) });

    // The stem pool refills in the background.
    await stemCellsAtLeast(rt, 2, 15_000);

    // An ordinary container (another CPU size has no stem cell) is hardened exactly the same.
    const plain = await deploy(rt.url, 'plain.zip', await makeZip({ 'index.js': PROBE_HANDLER }), { cpus: '0.25' });
    expect(plain.status).toBe(201);
    const plainRes = await invoke(rt.url, 'plain');
    expect(plainRes.status).toBe(200);
    const plainContainers = (await info(rt, 'plain')).status.containers;
    expect(plainContainers).toHaveLength(1);
    expect(plainContainers[0]!.fromStemCell).toBe(false);
    const plainInspected = await docker.getContainer(plainContainers[0]!.id).inspect();
    expect(stemHardening).toEqual(hardening(plainInspected));
    // It booted with 1 CPU; the boost ends in the background once it answered.
    expect(await eventually(async () => cpuQuotaOnce(plainContainers[0]!.id, 2_500), 10_000, 'the 0.25 CPU quota')).toBe(2_500);
  });

  it('after a restart, a function first served by a stem cell is warm: its labelled container is adopted', async () => {
    const first = await start();
    await stemCellsAtLeast(first, 1);
    await deploy(first.url, 'adopted.zip', await makeZip({ 'index.js': PROBE_HANDLER }), { env: JSON.stringify({ GREETING: 'again' }) });
    expect((await invoke(first.url, 'adopted', { a: 0, b: 0 })).status).toBe(200);
    const before = await eventually(
      async () => {
        const s = (await info(first, 'adopted')).status;
        return s.containers.length === 1 && s.readyReplicas === 1 && !s.containers[0]!.fromStemCell ? s.containers : undefined;
      },
      20_000,
      'a labelled warm container',
    );
    const ids = before.map((c) => c.id);
    await first.stop();

    const second = await start({ dir: first.dir });
    expect(second.instanceId).toBe(first.instanceId);
    expect((await info(second, 'adopted')).status.containers.map((c) => c.id)).toEqual(ids);
    const res = await invoke(second.url, 'adopted', { a: 1, b: 1 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sum: 2, greeting: 'again' });
    expect(await lastLog(second, 'adopted')).toMatchObject({ statusCode: 200, coldStart: false });
    expect((await info(second, 'adopted')).status.containers.map((c) => c.id)).toEqual(ids);
    // The specialised cell of the first run is not adopted (its labels name no function): none is left.
    expect((await stemContainers(second.instanceId)).every((c) => !(before.map((b) => b.id) as string[]).includes(c.Id))).toBe(true);
  });

  it('removes the stem-born container when its function is deleted, with its folders', async () => {
    const rt = await start();
    await stemCellsAtLeast(rt, 1);
    const cells = await stemContainers(rt.instanceId);
    await deploy(rt.url, 'short-lived.zip', await makeZip({ 'index.js': PROBE_HANDLER }));
    const res = await invoke(rt.url, 'short-lived', { a: 1, b: 2 });
    expect(res.status).toBe(200);
    const { host } = (await res.json()) as { host: string };
    const cell = cells.find((c) => c.Id.startsWith(host))!;
    expect(cell).toBeDefined();
    // The cell's own folders (its code copy and its socket folder) are named by its replica key.
    const key = cell.Labels[LABELS.replica]!;
    expect(existsSync(join(rt.dir, 'cells', key, 'index.js'))).toBe(true);
    expect(existsSync(join(rt.dir, 'sockets', key))).toBe(true);

    const del = await control(rt, `/del/short-lived`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ deleted: 'short-lived' });
    expect(await functionContainers(rt, 'short-lived', [cell.Id])).toEqual([]);
    expect((await control(rt, `/info/short-lived`)).status).toBe(404);
    expect(existsSync(join(rt.dir, 'cells', key))).toBe(false);
    expect(existsSync(join(rt.dir, 'sockets', key))).toBe(false);
  });

  it('starts no stem cell with GLAMBDAR_STEM_CELLS=0, and a first invoke still works', async () => {
    const rt = await start({ env: { stemCells: '0' } });
    const env = { GREETING: 'plain', NODE_ENV: 'development' };
    await deploy(rt.url, 'no-stem.zip', await makeZip({ 'index.js': PROBE_HANDLER }), { env: JSON.stringify(env) });
    // Give a (wrongly) enabled pool time to start a cell before looking.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stemContainers(rt.instanceId)).toEqual([]);
    expect(await stemCellsReady(rt)).toBe(0);

    const res = await invoke(rt.url, 'no-stem', { a: 20, b: 22 });
    expect(res.status).toBe(200);
    // The function's env wins over the default NODE_ENV; the worker's own settings are hidden.
    expect(await res.json()).toMatchObject({ sum: 42, greeting: 'plain', nodeEnv: 'development', workerVars: [], interfaces: ['lo'], uid: 65534 });
    expect(await lastLog(rt, 'no-stem')).toMatchObject({ statusCode: 200, coldStart: true });
    const containers = (await info(rt, 'no-stem')).status.containers;
    expect(containers).toHaveLength(1);
    expect(containers[0]!.fromStemCell).toBe(false);
    // The function's container is an ordinary, labelled one; still no stem cell anywhere.
    const labelled = await functionContainers(rt, 'no-stem');
    expect(labelled.map((c) => c.Id)).toEqual(containers.map((c) => c.id));
    expect(labelled[0]!.Labels[LABELS.function]).toBe('no-stem');
    expect(await stemContainers(rt.instanceId)).toEqual([]);
    expect(await eventually(async () => cpuQuotaOnce(containers[0]!.id, 5_000), 10_000, 'the 0.5 CPU quota')).toBe(5_000);
  });
});
