import { describe, expect, it } from 'vitest';
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
  instanceContainers,
  standbyContainers,
  useRuntimes,
  type TestRuntime,
} from './harness.js';

const versioned = (version: string, delayMs = 0) =>
  `exports.handler = async () => { await new Promise((r) => setTimeout(r, ${delayMs})); return { version: '${version}' }; };`;

/** Fires `total` invocations, `concurrency` at a time; returns status codes and bodies. */
async function load(rt: TestRuntime, name: string, total: number, concurrency: number): Promise<Array<{ status: number; body: string }>> {
  const results: Array<{ status: number; body: string }> = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      next += 1;
      const res = await invoke(rt.url, name);
      results.push({ status: res.status, body: await res.text() });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return results;
}

describe.runIf(integrationEnabled)('the controller on a real Docker engine', () => {
  const runtime = useRuntimes();
  const start = (dir?: string) => runtime({ dir });

  it('replaces a killed warm container and keeps serving', async () => {
    const rt = await start();
    await deploy(rt.url, 'sturdy.zip', await makeZip({ 'index.js': versioned('v1') }), { minWarm: '1' });
    await eventually(async () => ((await info(rt, 'sturdy')).status.readyReplicas === 1 ? true : undefined), 20_000, 'warm container');
    const [victim] = await functionContainers(rt, 'sturdy');
    await docker.getContainer(victim!.Id).kill();

    await eventually(
      async () => {
        const containers = await functionContainers(rt, 'sturdy', [victim!.Id]);
        const s = (await info(rt, 'sturdy')).status;
        return s.readyReplicas === 1 && containers.every((c) => c.Id !== victim!.Id) && containers.length === 1 ? true : undefined;
      },
      15_000,
      'a replacement container',
    );
    const results = await load(rt, 'sturdy', 20, 4);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
  });

  it('adopts its containers after a restart, so the first invoke is warm', async () => {
    const first = await start();
    await deploy(first.url, 'keeper.zip', await makeZip({ 'index.js': versioned('v1') }), { minWarm: '1' });
    await eventually(async () => ((await info(first, 'keeper')).status.readyReplicas === 1 ? true : undefined), 20_000, 'warm');
    const before = (await functionContainers(first, 'keeper')).map((c) => c.Id);
    await first.stop();

    const second = await start(first.dir);
    expect(second.instanceId).toBe(first.instanceId);
    const res = await invoke(second.url, 'keeper');
    expect(res.status).toBe(200);
    const logs = (await (await control(second, `/logs/keeper?limit=1`)).json()) as Array<{ coldStart: boolean }>;
    expect(logs[0]?.coldStart).toBe(false);
    expect((await functionContainers(second, 'keeper')).map((c) => c.Id)).toEqual(before);
  });

  it('rolls out new code under load with no failed request', async () => {
    const rt = await start();
    await deploy(rt.url, 'rolling.zip', await makeZip({ 'index.js': versioned('v1', 40) }), { minWarm: '2', maxConcurrency: '8' });
    await eventually(async () => ((await info(rt, 'rolling')).status.readyReplicas === 2 ? true : undefined), 20_000, 'warm');
    const oldIds = (await functionContainers(rt, 'rolling')).map((c) => c.Id);
    const running = load(rt, 'rolling', 200, 8);
    await new Promise((r) => setTimeout(r, 50));
    const redeploy = await deploy(rt.url, 'rolling.zip', await makeZip({ 'index.js': versioned('v2', 40) }));
    expect(redeploy.status).toBe(200);
    expect(await redeploy.json()).toMatchObject({ status: 'updated', generation: 2 });
    const results = await running;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results).toHaveLength(200);
    // The load spanned the rollout: both versions answered it.
    expect(new Set(results.map((r) => r.body))).toEqual(new Set([JSON.stringify({ version: 'v1' }), JSON.stringify({ version: 'v2' })]));

    // Old containers leave once drained; the engine may take a moment to finish removing them.
    // (The autoscaler may keep a third replica for the load just served: at least minWarm, all new.)
    await eventually(
      async () => {
        const now = await functionContainers(rt, 'rolling', oldIds);
        return now.length >= 2 && now.every((c) => !oldIds.includes(c.Id)) ? true : undefined;
      },
      20_000,
      'old containers removed',
    );
    await eventually(
      async () => {
        const s = (await info(rt, 'rolling')).status;
        return s.observedGeneration === 2 && s.replicas >= 2 && s.readyReplicas === s.replicas ? true : undefined;
      },
      20_000,
      'rollout to finish',
    );
    const after = await load(rt, 'rolling', 20, 4);
    expect(new Set(after.map((r) => r.body))).toEqual(new Set([JSON.stringify({ version: 'v2' })]));
  }, 60_000);

  it('shows Failed with the error text for a function with a syntax error in a module its entry requires', async () => {
    const rt = await start();
    // The deploy checks the entry's syntax only (a syntax error there is a 400); this one loads.
    const files = { 'index.js': "module.exports = require('./lib.js');", 'lib.js': 'exports.handler = async () => { return {;' };
    expect((await deploy(rt.url, 'broken.zip', await makeZip(files), { minWarm: '1' })).status).toBe(201);
    const status = await eventually(
      async () => {
        const s = (await info(rt, 'broken')).status;
        return s.phase === 'Failed' ? s : undefined;
      },
      20_000,
      'phase Failed',
    );
    const pool = status.conditions.find((c) => c.type === 'PoolReady');
    expect(pool).toMatchObject({ status: 'False', reason: 'LoadFailed' });
    expect(pool?.message).toMatch(/SyntaxError/);
    const res = await invoke(rt.url, 'broken');
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: 'FUNCTION_LOAD_FAILED', error: expect.stringMatching(/SyntaxError/) });
  });

  it('tells the caller a function ran out of memory or exited, and serves again afterwards', async () => {
    const rt = await start();
    const handler = `exports.handler = async (req) => {
      if (req.path === '/hog') { const held = []; for (;;) held.push(Buffer.alloc(1 << 20, 1)); }
      if (req.path === '/quit') { setTimeout(() => process.exit(3), 10); await new Promise(() => {}); }
      return { ok: true };
    };`;
    await deploy(rt.url, 'hog.zip', await makeZip({ 'index.js': handler }), { memoryMb: '64' });
    expect((await invoke(rt.url, 'hog')).status).toBe(200);
    const oom = await fetch(`${rt.url}/invoke/hog/hog`, { method: 'POST' });
    expect(oom.status).toBe(502);
    expect(await oom.json()).toEqual({
      error: 'the function ran out of memory: its container was killed at the 64 MiB limit (raise memoryMb)',
      code: 'CONTAINER_DIED',
    });
    const quit = await fetch(`${rt.url}/invoke/hog/quit`, { method: 'POST' });
    expect(quit.status).toBe(502);
    expect(await quit.json()).toMatchObject({ error: 'the function container exited with code 3 during the invocation' });
    expect((await invoke(rt.url, 'hog')).status).toBe(200);
  });

  it('deletes a function under load and leaves no container behind', async () => {
    const rt = await start();
    await deploy(rt.url, 'doomed.zip', await makeZip({ 'index.js': versioned('v1') }), { minWarm: '2' });
    await eventually(async () => ((await info(rt, 'doomed')).status.readyReplicas === 2 ? true : undefined), 20_000, 'warm');
    const ids = (await functionContainers(rt, 'doomed')).map((c) => c.Id);
    const running = load(rt, 'doomed', 100, 8);
    await new Promise((r) => setTimeout(r, 30));
    const del = await control(rt, `/del/doomed`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const results = await running;
    // Requests before the delete succeed; after it they get 404; none gets a server error.
    expect(results.filter((r) => r.status !== 200 && r.status !== 404)).toEqual([]);
    expect(await functionContainers(rt, 'doomed', ids)).toEqual([]);
    // Its standby (created, never started) too.
    expect(await instanceContainers(rt.instanceId, 'doomed')).toEqual([]);
  });

  it("creates each function's next container ahead, hardened as every container, and starts it at a cold start", async () => {
    const rt = await runtime({ env: { stemCells: '0' } });
    await deploy(rt.url, 'ahead.zip', await makeZip({ 'index.js': versioned('v1') }), { idleTimeoutMs: '1000' });
    const [standby] = await eventually(async () => {
      const found = await standbyContainers(rt, 'ahead');
      return found.length === 1 ? found : undefined;
    }, 10_000, 'a standby container');
    const made = await docker.getContainer(standby!.Id).inspect();
    expect(made.State.Status).toBe('created');
    expect(made.HostConfig).toMatchObject({ NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] });

    const res = await invoke(rt.url, 'ahead');
    expect(await res.json()).toEqual({ version: 'v1' });
    expect((await functionContainers(rt, 'ahead')).map((c) => c.Id)).toEqual([standby!.Id]);
    // The next one is created after the answer.
    const next = await eventually(async () => {
      const found = await standbyContainers(rt, 'ahead');
      return found.length === 1 && found[0]!.Id !== standby!.Id ? found[0] : undefined;
    }, 10_000, 'the next standby container');
    expect(next!.Labels['glambdar.generation']).toBe('1');

    // A restart adopts it: scaled to zero, the function's next cold start starts that container.
    await rt.stop();
    const again = await runtime({ dir: rt.dir, env: { stemCells: '0' } });
    await eventually(async () => ((await functionContainers(again, 'ahead')).length === 0 ? true : undefined), 20_000, 'scaled to zero');
    expect((await standbyContainers(again, 'ahead')).map((c) => c.Id)).toEqual([next!.Id]);
    expect(await (await invoke(again.url, 'ahead')).json()).toEqual({ version: 'v1' });
    expect((await functionContainers(again, 'ahead')).map((c) => c.Id)).toEqual([next!.Id]);

    expect((await control(again, '/del/ahead', { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => ((await instanceContainers(again.instanceId, 'ahead')).length === 0 ? true : undefined), 10_000, 'no container left');
  });

  it('on stop finishes in-flight invocations, keeps their log records and leaves containers to adopt', async () => {
    const rt = await start();
    await deploy(rt.url, 'patient.zip', await makeZip({ 'index.js': versioned('v1', 600) }), { minWarm: '1' });
    await eventually(async () => ((await info(rt, 'patient')).status.readyReplicas === 1 ? true : undefined), 20_000, 'warm');
    const ids = (await functionContainers(rt, 'patient')).map((c) => c.Id);
    const inFlight = Promise.all([invoke(rt.url, 'patient'), invoke(rt.url, 'patient')]);
    await new Promise((r) => setTimeout(r, 100));
    const stopped = rt.stop();
    const answers = await inFlight;
    await stopped;
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    // New connections are refused once stopping has begun.
    await expect(fetch(`${rt.url}/healthz`)).rejects.toThrow();
    expect((await docker.listContainers({ filters: { id: ids } })).map((c) => c.Id)).toEqual(ids);

    const again = await start(rt.dir);
    const logs = (await (await control(again, `/logs/patient`)).json()) as Array<{ statusCode: number }>;
    expect(logs.map((l) => l.statusCode)).toEqual([200, 200]);
  });
});
