/**
 * The two servers `npm run bench` measures Glambdar beside, each in a process of its own: bare
 * node:http answering the same JSON, and the hop floor (./hop-floor.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './fixtures.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** A started reference server: its port, and its process to stop. */
export interface ReferenceServer {
  port: number;
  child: ChildProcess;
}

/** Bare node:http answering every request with `json` once its body has come. */
export async function baselineServer(json: string): Promise<ReferenceServer> {
  const port = await freePort();
  const code = `require('http').createServer((req, res) => { const chunks = []; req.on('data', (c) => chunks.push(c)); req.on('end', () => { const body = ${JSON.stringify(json)}; res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); }).listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'inherit' });
  const answers = async () => (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch(() => null))?.status === 200;
  await waitFor(answers, 10_000);
  return { port, child };
}

/** The hop floor (./hop-floor.ts): a bare proxy to the same worker over one socket. */
export async function hopFloorServer(): Promise<ReferenceServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(HERE, 'hop-floor.js'), String(port), join(HERE, '..', 'worker-bundle', 'main.cjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`hop floor exited ${code}`)));
  });
  return { port, child };
}
