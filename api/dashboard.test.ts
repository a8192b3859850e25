import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/**
 * The dashboard's server side over HTTP, containers replaced by in-process workers: the page
 * and its assets (open, no data, no other origin), and the stats routes (behind the token).
 */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

/** The status of a GET with headers fetch would not let through (Sec-Fetch-*). */
function status(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

async function deploy(name: string): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async (req) => ({ statusCode: req.path === "/fail" ? 500 : 200, body: "ok" });' }))]), `${name}.zip`);
  expect((await control('/deploy', { method: 'POST', body: form })).status).toBe(201);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-dash-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }), sandbox, log: silentLogger, watchManifests: false });
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /ui', () => {
  it('serves the page shell and its built assets without the token, from this runtime only, under a strict CSP', async () => {
    const page = await fetch(`${server.url}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // Every asset from this runtime: no CDN, works offline.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).toMatch(/^\/ui\//);
    for (const [path, type] of [['/ui/app.js', /javascript/], ['/ui/app.css', /css/], ['/ui/favicon.svg', /svg/]] as const) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(type);
      const etag = res.headers.get('etag')!;
      expect((await fetch(`${server.url}${path}`, { headers: { 'if-none-match': etag } })).status, path).toBe(304);
    }
    const script = await (await fetch(`${server.url}/ui/app.js`)).text();
    // The chart library is bundled in (its class names), nothing is fetched from elsewhere.
    expect(script.includes('u-legend')).toBe(true);
    expect(script.match(/https?:\/\/(?!www\.w3\.org)[^"'`\s]*/g)).toBeNull();
  });

  it('opens from a link on another site (a navigation), but answers no other cross-site request', async () => {
    const crossSite = (path: string, mode: string, headers: Record<string, string> = {}) => status(path, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': mode, ...headers });
    expect(await crossSite('/ui', 'navigate')).toBe(200);
    expect(await crossSite('/ui/app.js', 'no-cors')).toBe(403);
    expect(await crossSite('/stats', 'navigate', { authorization: `Bearer ${token}` })).toBe(403);
  });
});

describe('GET /stats', () => {
  it('answers only with the admin token, and takes a page of its own origin', async () => {
    expect((await fetch(`${server.url}/stats`)).status).toBe(401);
    expect((await fetch(`${server.url}/stats`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const sameOrigin = await control('/stats?seconds=5', { headers: { origin: server.url, 'sec-fetch-site': 'same-origin' } });
    expect(sameOrigin.status).toBe(200);
    expect(sameOrigin.headers.get('cache-control')).toBe('no-store');
  });

  it('gives per-second series of a function and the overview of every function and the runtime', async () => {
    await deploy('echo');
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/invoke/echo`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${server.url}/invoke/echo/fail`, { method: 'POST' })).status).toBe(500);
    // The invocations are in the open second; the series end at the last whole one.
    await new Promise((r) => setTimeout(r, 1100));
    const series = (await (await control('/stats/echo?seconds=10')).json()) as { time: number[]; requests: number[]; responses: Record<string, number[]>; p50Ms: Array<number | null> };
    expect(series.time).toHaveLength(10);
    expect(series.time[9]! - series.time[0]!).toBe(9);
    expect(series.requests.reduce((a, b) => a + b, 0)).toBe(4);
    expect(series.responses['2xx']!.reduce((a, b) => a + b, 0)).toBe(3);
    expect(series.responses['5xx']!.reduce((a, b) => a + b, 0)).toBe(1);
    expect(series.p50Ms.some((v) => v !== null)).toBe(true);
    // The autoscaler's tick samples prediction and replicas every second.
    await new Promise((r) => setTimeout(r, 1100));
    const sampled = (await (await control('/stats/echo?seconds=3')).json()) as { predictedRps: Array<number | null>; readyReplicas: Array<number | null>; panic: Array<number | null> };
    expect(sampled.predictedRps.some((v) => v !== null && v > 0)).toBe(true);
    expect(sampled.readyReplicas.some((v) => v !== null && v >= 1)).toBe(true);
    expect(sampled.panic.filter((v) => v !== null).every((v) => v === 0 || v === 1)).toBe(true);
    const overview = (await (await control('/stats?seconds=2')).json()) as {
      windowSeconds: number;
      runtime: { rssBytes: number; series: { time: number[] } };
      functions: Array<{ name: string; requests: number; errorRate: number }>;
    };
    expect(overview.windowSeconds).toBe(60);
    expect(overview.runtime.series.time).toHaveLength(2);
    expect(overview.functions).toEqual([expect.objectContaining({ name: 'echo', requests: 4, errorRate: 0.25 })]);
  });

  it('refuses a bad seconds or an unknown field (400 naming it) and an unknown function (404)', async () => {
    await deploy('echo');
    for (const query of ['seconds=0', 'seconds=901', 'seconds=abc', 'since=5']) {
      const res = await control(`/stats/echo?${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect((await control('/stats?seconds=0')).status).toBe(400);
    const missing = await control('/stats/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
  });
});
