import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_HANDOVER_MS } from '../../controller/invocation/invocation-log.js';
import { SqliteStore } from '../../controller/state/sqlite-store.js';
import { deploy, freePort, integrationEnabled, makeZip, removeInstanceContainers, serveChild } from './harness.js';

/**
 * The window of invocation records a kill -9 may lose (README "Data"): records are handed to
 * the writer thread every RECORD_HANDOVER_MS and committed by it at once, so every response sent
 * more than RECORD_WINDOW_MS before the kill has its record.
 */
const RECORD_WINDOW_MS = RECORD_HANDOVER_MS;
/** What this test allows on top: the commit itself, and a 2-vCPU machine other work shares. */
const SCHEDULING_SLACK_MS = 90;

/** Resolves once the process has ended (at once if it has already). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe.runIf(integrationEnabled)('invocation records across a kill -9', () => {
  it(`keeps the record of every response sent more than ${RECORD_WINDOW_MS} ms (+ slack) before the kill`, { timeout: 120_000 }, async () => {
    const dir = await mkdtemp('/tmp/glr-');
    const port = await freePort();
    // Retention far above what this run writes: no record is trimmed, so a missing one was lost.
    const rt = await serveChild(dir, port, { GLAMBDAR_LOG_RETENTION: '1000000' });
    try {
      expect((await deploy(rt.url, 'ping.zip', await makeZip({ 'index.js': 'exports.handler = async () => ({ pong: true });' }), { minWarm: '2' })).status).toBe(201);
      // Warm: both containers up, the hot path compiled.
      for (let i = 0; i < 200; i++) await (await fetch(`${rt.url}/invoke/ping`)).arrayBuffer();

      // The load comes from a process of its own, on kept-alive connections: every answer is a
      // line "request-id epoch-ms" written as soon as its last byte has come.
      const load = spawn(
        process.execPath,
        [
          '-e',
          `const http = require('node:http');
           const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
           const now = () => performance.timeOrigin + performance.now();
           const one = () => http.get(process.argv[1], { agent }, (res) => {
             res.resume();
             res.on('end', () => { process.stdout.write(res.headers['x-glambdar-request-id'] + ' ' + now() + '\\n'); one(); });
           }).on('error', () => undefined);
           for (let i = 0; i < 32; i++) one();`,
          `${rt.url}/invoke/ping`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let output = '';
      load.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const killedAt = performance.timeOrigin + performance.now();
      rt.child.kill('SIGKILL');
      await exited(rt.child);
      load.kill('SIGKILL');
      await exited(load);
      const answered = output
        .split('\n')
        .filter((line) => line.includes(' '))
        .map((line) => ({ id: line.split(' ')[0]!, at: Number(line.split(' ')[1]) }));

      const db = new SqliteStore(join(dir, 'glambdar.db'));
      const stored = new Set(db.logsAfter('ping', { afterId: 0, limit: Number.MAX_SAFE_INTEGER }).map((r) => r.requestId));
      db.close();
      const sent = answered.filter((a) => a.at <= killedAt);
      const missing = sent.filter((a) => !stored.has(a.id));
      const oldestMissingMs = missing.length === 0 ? 0 : killedAt - Math.min(...missing.map((a) => a.at));
      console.log(`${sent.length} responses before the kill; ${missing.length} without a record, the oldest sent ${oldestMissingMs.toFixed(1)} ms before it`);
      expect(sent.length).toBeGreaterThan(1000);
      expect(oldestMissingMs).toBeLessThanOrEqual(RECORD_WINDOW_MS + SCHEDULING_SLACK_MS);
    } finally {
      rt.child.kill('SIGKILL');
      await removeInstanceContainers(rt.instance);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
