import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import { control, deploy, eventually, info, instanceContainers, integrationEnabled, invoke, makeZip, useRuntimes } from './harness.js';

/** The replica keys that have a folder in the data folder. */
async function folders(dir: string): Promise<string[]> {
  const names = [...(await readdir(join(dir, 'sockets'))), ...(await readdir(join(dir, 'cells')))];
  return [...new Set(names)].sort();
}

describe.runIf(integrationEnabled)('leftovers on a real engine', () => {
  const start = useRuntimes();

  it('a 20-way cold start adopts each container once, and a restart and a deletion leave no folder of a gone container', { timeout: 180_000 }, async () => {
    const rt = await start({ env: { stemCells: '2' } });
    expect((await deploy(rt.url, 'burst.zip', await makeZip({ 'index.js': 'exports.handler = async () => { await new Promise((r) => setTimeout(r, 200)); return "ok"; };' }), { maxConcurrency: '1' })).status).toBe(201);
    const answers = await Promise.all(Array.from({ length: 20 }, () => invoke(rt.url, 'burst')));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    // Settled: stem-born replicas replaced by labelled ones; every container listed once.
    const settled = await eventually(async () => {
      const now = await info(rt, 'burst');
      const ids = now.status.containers.map((c) => c.id);
      return now.status.containers.every((c) => !c.fromStemCell && c.state === 'ready') && new Set(ids).size === ids.length ? ids : undefined;
    }, 60_000, 'the burst to settle');
    expect(settled.length).toBeGreaterThan(0);

    await rt.stop();
    const again = await start({ dir: rt.dir, env: { stemCells: '2' } });
    const adopted = await eventually(async () => {
      const ids = (await info(again, 'burst')).status.containers.map((c) => c.id);
      return ids.length > 0 && new Set(ids).size === ids.length ? ids : undefined;
    }, 30_000, 'adoption');
    expect(new Set(adopted).size).toBe(adopted.length);
    const keysOfLive = async () => (await instanceContainers(again.instanceId)).map((c) => c.Labels[LABELS.replica]!).sort();
    await eventually(async () => (JSON.stringify(await folders(again.dir)) === JSON.stringify(await keysOfLive()) ? true : undefined), 45_000, 'only live containers to have folders');

    expect((await control(again, `/del/burst`, { method: 'DELETE' })).status).toBe(200);
    const containers = await instanceContainers(again.instanceId);
    expect(containers.every((c) => c.Labels[LABELS.stem] === '1')).toBe(true);
    await eventually(async () => (JSON.stringify(await folders(again.dir)) === JSON.stringify(await keysOfLive()) ? true : undefined), 45_000, 'only the stem cells to have folders');
  });
});
