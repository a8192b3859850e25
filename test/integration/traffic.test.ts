import { describe, expect, it } from 'vitest';
import {
  deploy,
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

/** Fires `count` invocations at once; returns every response with its body read. */
async function burst(rt: TestRuntime, name: string, count: number): Promise<Array<{ status: number; headers: Headers; body: string }>> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const res = await invoke(rt.url, name);
      return { status: res.status, headers: res.headers, body: await res.text() };
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const OK_HANDLER = `exports.handler = async () => ({ statusCode: 200, body: { ok: true } });`;

/**
 * Sleeps ~600 ms and reports how many invocations its container had in flight right after
 * this one arrived (the container's peak is reached at some arrival, so the maximum over all
 * bodies is the container's true peak), and an id of its container (pid is 1 in every
 * container, hence the random part chosen at module load). 600 ms: two stem-born containers,
 * ready in ~10 ms, serve the burst of 40 at 4 each in 3 s, long enough for the labelled
 * containers it also starts to join on a loaded machine (at 300 ms one CI run of 5 saw only
 * the two stem-born ones answer).
 */
const CONCURRENCY_PROBE = `const containerId = process.pid + '-' + require('crypto').randomUUID();
let inFlight = 0;
exports.handler = async () => {
  inFlight += 1;
  const seen = inFlight;
  try {
    await new Promise((r) => setTimeout(r, 600));
    return { statusCode: 200, body: { container: containerId, inFlight: seen } };
  } finally {
    inFlight -= 1;
  }
};
`;

describe.runIf(integrationEnabled)('traffic control on a real Docker engine', () => {
  const start = useRuntimes();

  it('rate limits a burst with 429s that carry Retry-After and RateLimit headers, and admits again a second later', async () => {
    const rt = await start();
    const deployed = await deploy(rt.url, 'limited.zip', await makeZip({ 'index.js': OK_HANDLER }), { rateLimit: '5' });
    expect(deployed.status).toBe(201);

    const results = await burst(rt, 'limited', 30);
    // Nothing but admitted successes and rate-limit refusals.
    expect(results.filter((r) => r.status !== 200 && r.status !== 429).map((r) => `${r.status} ${r.body}`)).toEqual([]);
    const admitted = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    // The bucket holds one second's worth (5); a token or two may refill while the burst arrives.
    expect(admitted.length).toBeGreaterThanOrEqual(5);
    expect(admitted.length).toBeLessThanOrEqual(8);
    expect(limited.length).toBe(30 - admitted.length);

    for (const r of admitted) {
      expect(JSON.parse(r.body)).toEqual({ ok: true });
      expect(r.headers.get('ratelimit-limit')).toBe('5');
    }
    for (const r of limited) {
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      expect(JSON.parse(r.body)).toEqual({ error: expect.any(String), code: 'RATE_LIMITED' });
      const retryAfter = Number(r.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
      expect(r.headers.get('ratelimit-limit')).toBe('5');
      expect(r.headers.get('ratelimit-remaining')).toBe('0');
      const reset = Number(r.headers.get('ratelimit-reset'));
      expect(Number.isInteger(reset) && reset >= 1).toBe(true);
    }

    // A second later the bucket has refilled: requests are admitted again.
    await sleep(1100);
    for (let i = 0; i < 3; i++) {
      const res = await invoke(rt.url, 'limited');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
  });

  it('spreads a burst of 40 over several containers, never more than maxConcurrency (4) in flight in one', async () => {
    const rt = await start({ env: { queueTimeoutMs: '60000' } });
    const deployed = await deploy(rt.url, 'spread.zip', await makeZip({ 'index.js': CONCURRENCY_PROBE }), { maxConcurrency: '4' });
    expect(deployed.status).toBe(201);

    // Watch the runtime's own view while the burst runs: no container above 4 in flight.
    let sampling = true;
    let peakSeenByRuntime = 0;
    const sampler = (async () => {
      while (sampling) {
        const s = (await info(rt, 'spread')).status;
        for (const c of s.containers) peakSeenByRuntime = Math.max(peakSeenByRuntime, c.inFlight);
        await sleep(25);
      }
    })();
    const results = await burst(rt, 'spread', 40).finally(() => {
      sampling = false;
    });
    await sampler;

    expect(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`)).toEqual([]);
    const bodies = results.map((r) => JSON.parse(r.body) as { container: string; inFlight: number });
    const peak = Math.max(...bodies.map((b) => b.inFlight));
    expect(peak).toBeLessThanOrEqual(4);
    expect(peakSeenByRuntime).toBeLessThanOrEqual(4);
    const containersInBodies = new Set(bodies.map((b) => b.container));
    expect(containersInBodies.size).toBeGreaterThanOrEqual(3);

    const containers = (await info(rt, 'spread')).status.containers;
    expect(new Set(containers.map((c) => c.id)).size).toBeGreaterThanOrEqual(3);
    expect(containers.every((c) => c.inFlight <= 4)).toBe(true);
  });

  it('scales to zero after the idle timeout, then answers the next request with a cold start', async () => {
    const rt = await start();
    const deployed = await deploy(rt.url, 'sleepy.zip', await makeZip({ 'index.js': OK_HANDLER }), {
      minWarm: '0',
      idleTimeoutMs: '1500',
      scaleDownDelayMs: '1000',
    });
    expect(deployed.status).toBe(201);

    const first = await invoke(rt.url, 'sleepy');
    expect(first.status).toBe(200);
    const ids = (await info(rt, 'sleepy')).status.containers.map((c) => c.id);
    expect(ids.length).toBeGreaterThanOrEqual(1);

    await eventually(
      async () => {
        const s = (await info(rt, 'sleepy')).status;
        if (s.replicas !== 0) return undefined;
        return (await functionContainers(rt, 'sleepy', ids)).length === 0 ? true : undefined;
      },
      20_000,
      'scale to zero (no replica, no container left in Docker)',
    );

    const again = await invoke(rt.url, 'sleepy');
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true });
    expect(await lastLog(rt, 'sleepy')).toMatchObject({ statusCode: 200, coldStart: true });
  });
});
