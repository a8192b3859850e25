import { describe, expect, it } from 'vitest';
import { control, deploy, info, integrationEnabled, invoke, makeZip, useRuntimes } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers after 200 ms, so a burst of two needs two containers (maxConcurrency 1). */
const SLOW_HANDLER = `exports.handler = async () => { await new Promise((r) => setTimeout(r, 200)); return { statusCode: 200, body: { ok: true } }; };`;

const GAP_MS = 20_000;
const BURSTS = 5;
const BURST_SIZE = 2;

describe.runIf(integrationEnabled)('pre-warming from idle times on a real Docker engine', () => {
  const start = useRuntimes();

  it(
    'unloads a function with a regular 20-s gap between bursts and pre-warms it before the next: no cold start in the third and later bursts',
    async () => {
      const rt = await start();
      // A 5-s idle timeout: reactive scaling (or the EWMA alone) would be at zero when each burst comes.
      const fields = { maxConcurrency: '1', minWarm: '0', idleTimeoutMs: '5000' };
      expect((await deploy(rt.url, 'rhythm.zip', await makeZip({ 'index.js': SLOW_HANDLER }), fields)).status).toBe(201);

      const requestIds: string[][] = [];
      const replicasMidGap: number[] = [];
      const t0 = Date.now();
      // What /info showed every half second: `seconds:replicas/ready/states` (s: starting, r: ready).
      const timeline: string[] = [];
      let polling = true;
      void (async () => {
        while (polling) {
          const st = (await info(rt, 'rhythm').catch(() => undefined))?.status;
          if (st) timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}:${st.replicas}/${st.readyReplicas}/${st.containers.map((c) => c.state[0]).join('')}`);
          await sleep(500);
        }
      })();
      try {
        for (let k = 0; k < BURSTS; k++) {
          await sleep(Math.max(0, t0 + k * GAP_MS - Date.now()));
          const responses = await Promise.all(Array.from({ length: BURST_SIZE }, () => invoke(rt.url, 'rhythm')));
          expect(responses.map((r) => r.status)).toEqual(Array(BURST_SIZE).fill(200));
          requestIds.push(responses.map((r) => r.headers.get('x-glambdar-request-id')!));
          if (k === BURSTS - 1) break;
          // Halfway to the next burst the function holds nothing: it was unloaded, not kept warm.
          await sleep(Math.max(0, t0 + k * GAP_MS + 12_000 - Date.now()));
          replicasMidGap.push((await info(rt, 'rhythm')).status.replicas);
        }
      } finally {
        polling = false;
      }

      const logs = (await (await control(rt, `/logs/rhythm?limit=100`)).json()) as Array<{ requestId: string; coldStart: boolean }>;
      const cold = new Map(logs.map((r) => [r.requestId, r.coldStart]));
      const coldPerBurst = requestIds.map((ids) => ids.filter((id) => cold.get(id) !== false).length);
      // On failure, when containers came and went.
      const why = `timeline ${timeline.join(' ')}`;
      // The first burst finds no container; the second ends the first pause (nothing to learn from yet).
      expect(coldPerBurst[0], why).toBeGreaterThan(0);
      expect(coldPerBurst.slice(2), why).toEqual(Array(BURSTS - 2).fill(0));
      // Scaled to zero halfway through every pause.
      expect(replicasMidGap, why).toEqual(Array(BURSTS - 1).fill(0));
    },
    120_000,
  );
});
