/**
 * A function folder run by a real worker over its real socket, for the interface adapters'
 * tests: `call()` sends one invoke frame as the runtime would and returns what came back.
 */
import { Console } from 'node:console';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeFrame, type Frame } from '../framing.js';
import type { HelloHeader, InterfaceName, InvokeHeader, ResultHeader } from '../protocol.js';
import { startWorker, type Worker } from '../server.js';
import { FakeRuntime, type RuntimeConnection } from './fake-runtime.js';

/** What a test sends: everything optional but what it cares about. */
export interface Call {
  method?: string;
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** What came back: the result frame's fields, the body as bytes and as text. */
export interface Answer {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  text: string;
  error: string | null;
  stdout: string;
  stderr: string;
}

/** A running worker for one function folder. */
export interface FunctionUnderTest {
  hello: HelloHeader;
  call(call?: Call): Promise<Answer>;
  /** Every frame the worker sent so far (hello, results, output...). */
  frames(): readonly Frame[];
  worker: Worker;
  close(): Promise<void>;
}

/**
 * Writes `files` (paths may hold folders) into a fresh function folder and starts a worker on it
 * with `spec.interface`/`spec.handler`. Vitest replaces the global console with its own; the
 * worker in a container has Node's, so it is put back while the function runs.
 */
export async function runFunction(
  files: Record<string, string>,
  entry: { interface?: InterfaceName | null; handler?: string | null } = {},
): Promise<FunctionUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-iface-'));
  const fnDir = join(dir, 'fn');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(fnDir, name)), { recursive: true });
    await writeFile(join(fnDir, name), text);
  }
  await mkdir(fnDir, { recursive: true });
  const vitestConsole = globalThis.console;
  globalThis.console = new Console(process.stdout, process.stderr);
  const runtime = await FakeRuntime.listen(join(dir, 'runtime.sock'));
  const worker = await startWorker({
    socketPath: runtime.path,
    fnDir,
    maxLogBytes: 65_536,
    drainTimeoutMs: 2000,
    stem: false,
    interface: entry.interface ?? null,
    handler: entry.handler ?? null,
  });
  const conn: RuntimeConnection = await runtime.accept();
  const [first] = await conn.next(1);
  let id = 0;
  return {
    hello: first!.header as HelloHeader,
    worker,
    frames: () => conn.frames,
    async call(call: Call = {}): Promise<Answer> {
      id += 1;
      const header: InvokeHeader = {
        t: 'invoke',
        id,
        method: call.method ?? 'GET',
        path: call.path ?? '/',
        query: call.query ?? {},
        headers: call.headers ?? {},
        requestId: `request-${id}`,
        timeoutMs: call.timeoutMs ?? 30_000,
      };
      conn.socket.write(encodeFrame(header, call.body === undefined ? undefined : Buffer.isBuffer(call.body) ? call.body : Buffer.from(call.body)));
      let frame: Frame | undefined;
      for (let seen = conn.frames.length; !frame; seen++) {
        frame = (await conn.next(seen + 1)).find((f) => (f.header as { id?: unknown }).id === header.id && (f.header as { t?: unknown }).t === 'result');
      }
      const result = frame.header as ResultHeader;
      return { statusCode: result.statusCode, headers: result.headers, body: frame.body, text: frame.body.toString('utf8'), error: result.error, stdout: result.stdout, stderr: result.stderr };
    },
    async close() {
      await worker.close();
      await runtime.close();
      globalThis.console = vitestConsole;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
