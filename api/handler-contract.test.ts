import { Console } from 'node:console';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/**
 * What a handler can rely on and what its caller is told: bodies that are not JSON, bodies
 * that are streams, and what a function prints outside its invocations (FakeSandbox: the real
 * worker in this process).
 */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

async function deploy(name: string, files: Record<string, string>): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip(files))]), `${name}.zip`);
  return fetch(`${server.url}/deploy`, { method: 'POST', body: form });
}

const vitestConsole = globalThis.console;
beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});
afterAll(() => {
  globalThis.console = vitestConsole;
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-contract-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none' }), sandbox, log: silentLogger, watchManifests: false });
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

interface LogRecordBody {
  statusCode: number;
  stdout: string;
  stderr: string;
  error: string | null;
}

async function records(name: string): Promise<LogRecordBody[]> {
  return (await (await fetch(`${server.url}/logs/${name}`)).json()) as LogRecordBody[];
}

describe('request bodies', () => {
  const GREET = `exports.handler = async (req) => {
  const data = (await req.json()) ?? {};
  return { message: 'Hello ' + (data.name ?? 'world') + '!' };
};`;

  it('gives null for an empty body, so the README example answers without a body', async () => {
    expect((await deploy('greet', { 'index.js': GREET })).status).toBe(201);
    const res = await fetch(`${server.url}/invoke/greet`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'Hello world!' });
  });

  it('answers 400 INVALID_JSON_BODY when a body that is not JSON reaches json() uncaught, and records it', async () => {
    await deploy('greet', { 'index.js': GREET });
    const res = await fetch(`${server.url}/invoke/greet`, { method: 'POST', body: '{"name": ' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('INVALID_JSON_BODY');
    expect(body.error).toMatch(/^request body is not valid JSON: /);
    const [record] = await records('greet');
    expect(record).toMatchObject({ statusCode: 400, error: body.error });
  });
});

describe('response bodies', () => {
  it('refuses a generator with 500 HANDLER_ERROR saying what can be streamed, never its internals as JSON', async () => {
    // Streams themselves (Readable, ReadableStream, async iterables) are streamed: test/integration/streaming.test.ts.
    await deploy('streamer', { 'index.js': 'exports.handler = async () => (function* () { yield "a"; })();' });
    const res = await fetch(`${server.url}/invoke/streamer`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('HANDLER_ERROR');
    expect(body.error).toMatch(/^handler returned a generator as its body, which cannot be streamed: /);
  });
});

describe('output outside invocations', () => {
  it('puts load-time output in the first record and shows it, with background output, per container', async () => {
    await deploy('chatty', {
      'index.js': `console.log('connecting to nothing at load');
exports.handler = async (req) => {
  if (req.path === '/later') setTimeout(() => console.error('flushed in the background'), 10).unref();
  console.log('handling ' + req.path);
  return 'ok';
};`,
    });
    expect((await fetch(`${server.url}/invoke/chatty/first`)).status).toBe(200);
    expect((await fetch(`${server.url}/invoke/chatty/later`)).status).toBe(200);
    const [second, first] = await records('chatty');
    expect(first?.stdout).toBe('connecting to nothing at load\nhandling /first\n');
    expect(second?.stdout).toBe('handling /later\n');

    const info = (await (await fetch(`${server.url}/info/chatty`)).json()) as { status: { containers: Array<{ id: string }> } };
    const container = info.status.containers[0]!.id;
    await vi.waitFor(
      async () => {
        const output = (await (await fetch(`${server.url}/logs/chatty?container=1`)).json()) as Array<{ container: string; stream: string; text: string }>;
        expect(output.filter((e) => e.container === container).map((e) => [e.stream, e.text])).toEqual(
          expect.arrayContaining([
            ['stdout', 'connecting to nothing at load\n'],
            ['stderr', 'flushed in the background\n'],
          ]),
        );
      },
      { timeout: 5_000, interval: 50 },
    );
    const bad = await fetch(`${server.url}/logs/chatty?container=1&follow=1`);
    expect(bad.status).toBe(400);
  });
});
