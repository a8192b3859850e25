/**
 * The architecture's floor, for `npm run bench`: the least a runtime can do with one hop to a
 * separate worker process. A bare node:http server forwards each request over one Unix
 * socket to Glambdar's own worker (run directly on the host: no container, no controller, no
 * records, no limits) and writes back what it answers. Glambdar's figures next to this show
 * what the controller costs; this one next to bare node:http shows what the hop costs.
 *
 * Usage: node hop-floor.js <port> <worker bundle main.cjs>; prints "ready" once it serves.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createSocketServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FrameDecoder } from '../worker/framing.js';
import { type InvokeHeader, type ResultHeader } from '../worker/protocol.js';

const [port, workerMain] = [Number(process.argv[2]), process.argv[3] ?? ''];
const PING = `exports.handler = async () => ({ statusCode: 200, body: { message: 'pong' } });\n`;

const dir = mkdtempSync(join(tmpdir(), 'glambdar-floor-'));
mkdirSync(join(dir, 'fn'));
writeFileSync(join(dir, 'fn', 'index.js'), PING);
const socketPath = join(dir, 'runtime.sock');
// As the runtime does: listen, and let the worker connect.
const connected = new Promise<Socket>((resolve) => {
  const listener = createSocketServer((conn) => {
    listener.close();
    resolve(conn);
  });
  listener.listen(socketPath);
});
const worker = spawn(process.execPath, [workerMain], {
  env: { ...process.env, GLAMBDAR_SOCKET: socketPath, GLAMBDAR_FN_DIR: join(dir, 'fn') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const stop = () => {
  worker.kill();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const socket = await connected;
const decoder = new FrameDecoder();
const pending = new Map<number, (header: ResultHeader, body: Buffer) => void>();
socket.on('data', (chunk: Buffer) => {
  for (const frame of decoder.push(chunk)) {
    const header = frame.header as ResultHeader;
    const done = pending.get(header.id);
    if (!done) continue;
    pending.delete(header.id);
    done(header, frame.body);
  }
});

// The same write coalescing as the runtime: frames of one event-loop turn leave in one writev.
let nextId = 1;
let corked = false;
const uncork = () => {
  corked = false;
  socket.uncork();
};
createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const id = nextId++;
    pending.set(id, (header, body) => {
      res.writeHead(header.statusCode, { ...header.headers, 'content-length': body.length });
      res.end(body);
    });
    const headers: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) headers[key] = value;
    const invoke: InvokeHeader = { t: 'invoke', id, method: req.method ?? 'POST', path: '/', query: {}, headers, requestId: String(id), timeoutMs: 30_000 };
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    socket.write(encodeFrame(invoke, Buffer.concat(chunks)));
  });
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
