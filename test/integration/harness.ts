import Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { compiledFile } from '../../controller/support/compiled-file.js';
import { RuntimeConfigSchema } from '../../schemas/index.js';
import { createLogger } from '../../controller/support/logger.js';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import { afterEach } from 'vitest';
import { startServer, type GlambdarServer } from '../../api/server.js';
import { makeZip } from '../zip.js';

export { makeZip };

/** Integration tests run only when asked; when asked, a missing engine is a failure, not a skip. */
export const integrationEnabled = process.env['RUN_INTEGRATION_TESTS'] === '1';

export const docker = new Docker();

/** A Glambdar on its own data folder and a free port, with a way to remove all it started. */
export interface TestRuntime extends GlambdarServer {
  dir: string;
  instanceId: string;
  /** The admin token, as the runtime wrote it into its data folder (tests send it as a client would). */
  token: string;
  /** Stops the server (containers stay, as on a real restart). */
  stop(): Promise<void>;
  /** Stops the server and removes its containers and folder, even after a failure. */
  destroy(): Promise<void>;
}

/** Starts a runtime on a fresh (or given) data folder under /tmp (short paths: sockets). */
export async function startRuntime(options: { dir?: string; env?: Record<string, string> } = {}): Promise<TestRuntime> {
  const dir = options.dir ?? (await mkdtemp('/tmp/glt-'));
  const config = RuntimeConfigSchema.parse({
    dir,
    host: '127.0.0.1',
    port: 0,
    queueTimeoutMs: 20_000,
    resyncIntervalMs: 2_000,
    ...options.env,
  });
  const server = await startServer({ config, log: createLogger(process.env['GLAMBDAR_TEST_LOG'] === '1' ? 'debug' : 'warn') });
  const instanceId = server.runtime.instanceId;
  // The real path: the token the runtime made on its first start in this folder (or was given).
  const token = options.env?.['adminToken'] ?? (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  tokens.set(server.url, token);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.close(2000);
  };
  return {
    ...server,
    dir,
    instanceId,
    token,
    stop,
    async destroy() {
      await stop().catch(() => undefined);
      await removeInstanceContainers(instanceId);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The admin token of each runtime the harness started, by its URL. */
const tokens = new Map<string, string>();

/** Remembers the admin token of a runtime started outside the harness (a `glambdar serve` child), from its data folder. */
export async function rememberToken(url: string, dir: string): Promise<void> {
  tokens.set(url, (await readFile(join(dir, 'admin-token'), 'utf8')).trim());
}

/** `init` with the admin token of the runtime at `url` (a client of the control routes sends it). */
export function withToken(url: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  const token = tokens.get(url);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/** A control-route request (`/info`, `/logs`, `/del` ...) to a runtime, with its admin token. */
export function control(rt: { url: string }, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${rt.url}${path}`, withToken(rt.url, init));
}

/** Every container (any state) of one Glambdar instance, optionally of one function. */
export async function instanceContainers(instanceId: string, functionName?: string): Promise<Docker.ContainerInfo[]> {
  const label = [`${LABELS.instance}=${instanceId}`];
  if (functionName) label.push(`${LABELS.function}=${functionName}`);
  return docker.listContainers({ all: true, filters: { label } });
}

/**
 * The containers serving a function: those labelled with it, and those `GET /info` names
 * (a container specialised from a stem cell keeps its generic labels), started ones only (a
 * function's standby is created and serves nothing until a start takes it: {@link standbyContainers}).
 * `alsoIds` adds ids seen earlier, so a test can check that they are gone after a delete or a rollout.
 */
export async function functionContainers(rt: { url: string; instanceId: string }, name: string, alsoIds: string[] = []): Promise<Docker.ContainerInfo[]> {
  const res = await control(rt, `/info/${name}`);
  const ids = new Set(alsoIds);
  if (res.status === 200) {
    const info = (await res.json()) as { status: { containers: Array<{ id: string }> } };
    for (const c of info.status.containers) if (c.id) ids.add(c.id);
  }
  const all = await instanceContainers(rt.instanceId);
  return all.filter((c) => c.State !== 'created' && (c.Labels[LABELS.function] === name || ids.has(c.Id)));
}

/** A function's labelled containers that were started (its standby aside). */
export async function startedContainers(rt: { instanceId: string }, name: string): Promise<Docker.ContainerInfo[]> {
  return (await instanceContainers(rt.instanceId, name)).filter((c) => c.State !== 'created');
}

/** A function's standby: its container created ahead of its next start, never started yet. */
export async function standbyContainers(rt: { instanceId: string }, name: string): Promise<Docker.ContainerInfo[]> {
  return (await instanceContainers(rt.instanceId, name)).filter((c) => c.State === 'created');
}

export async function removeInstanceContainers(instanceId: string): Promise<void> {
  for (const c of await instanceContainers(instanceId)) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
}

/** `POST /deploy` as curl -F would send it. */
export async function deploy(url: string, fileName: string, zip: Buffer, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(zip)]), fileName);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return fetch(`${url}/deploy`, withToken(url, { method: 'POST', body: form }));
}

/** `POST /invoke/:name` with a JSON body. */
export function invoke(url: string, name: string, body: unknown = {}): Promise<Response> {
  return fetch(`${url}/invoke/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The handler of the README quick start. */
export const HELLO_HANDLER = `exports.handler = async (req) => {
  const data = (await req.json()) ?? {};
  console.log('greeting', data.name);
  console.error('a line on stderr');
  return { statusCode: 200, body: { message: \`Hello \${data.name}!\` } };
};
`;

export { join };

/** `GET /info/:name` as the tests read it. */
export interface InfoBody {
  generation: number;
  codeDigest: string;
  status: {
    phase: string;
    replicas: number;
    readyReplicas: number;
    observedGeneration: number;
    conditions: Array<{ type: string; status: string; reason: string; message: string }>;
    containers: Array<{ id: string; state: string; inFlight: number; fromStemCell: boolean }>;
  };
}

export async function info(rt: { url: string }, name: string): Promise<InfoBody> {
  return (await (await control(rt, `/info/${name}`)).json()) as InfoBody;
}

/** The newest invocation record of a function. */
export async function lastLog(rt: { url: string }, name: string): Promise<{ statusCode: number; coldStart: boolean } | undefined> {
  const logs = (await (await control(rt, `/logs/${name}?limit=1`)).json()) as Array<{ statusCode: number; coldStart: boolean }>;
  return logs[0];
}

/**
 * For a describe block: a `start` that starts runtimes, each destroyed after its test (newest
 * first), even when the test failed.
 */
export function useRuntimes(): (options?: Parameters<typeof startRuntime>[0]) => Promise<TestRuntime> {
  const runtimes: TestRuntime[] = [];
  afterEach(async () => {
    for (const rt of runtimes.splice(0).reverse()) await rt.destroy();
  });
  return async (options = {}) => {
    const rt = await startRuntime(options);
    runtimes.push(rt);
    return rt;
  };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `glambdar serve` as a child process on `dir`, ready when /healthz answers; `env` adds settings. */
export async function serveChild(dir: string, port: number, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; instance: string }> {
  const child = spawn(process.execPath, [compiledFile('api/cli.js'), 'serve'], {
    env: { ...process.env, GLAMBDAR_DIR: dir, GLAMBDAR_PORT: String(port), GLAMBDAR_LOG_LEVEL: 'warn', GLAMBDAR_STEM_CELLS: '0', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const health = await eventually(
    async () => {
      const res = await fetch(`${url}/healthz`);
      return res.status === 200 ? ((await res.json()) as { instance: string }) : undefined;
    },
    30_000,
    'the runtime to listen',
  );
  await rememberToken(url, dir);
  return { child, url, instance: health.instance };
}
