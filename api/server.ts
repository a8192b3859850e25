import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV, RuntimeConfigSchema, runtimeConfigInput, type RuntimeConfig } from '../schemas/index.js';
import { openRuntime, createLogger, type Clock, type Logger, type Runtime, type Sandbox } from '../controller/index.js';
import { ManifestSource } from '../manifests/index.js';
import { createApp } from './app.js';
import { httpStatusOf } from './http-errors.js';
import { createInvokeHandler, INVOKE_PREFIX } from './invoke-handler.js';
import { ASYNC_PREFIX, createAsyncHandler } from './routes/async.js';

/** Reads the runtime configuration from the environment, with readable errors. */
export function loadConfig(env: Record<string, string | undefined> = process.env): RuntimeConfig {
  const parsed = RuntimeConfigSchema.safeParse(runtimeConfigInput(env, join(homedir(), '.glambdar')));
  if (parsed.success) return parsed.data;
  // Name what the user set: the variable and its value, not the field behind it.
  const problems = parsed.error.issues.map((issue) => {
    const variable = CONFIG_ENV[String(issue.path[0]) as keyof typeof CONFIG_ENV];
    return `${variable}=${JSON.stringify(env[variable] ?? '')}: ${issue.message}`;
  });
  throw new Error(`invalid configuration: ${problems.join('; ')}`);
}

/** A running Glambdar: its HTTP server, its runtime and how to stop both. */
export interface GlambdarServer {
  runtime: Runtime;
  /** The runtime's log. */
  log: Logger;
  /** The watched manifests folder, or null when started without it. */
  manifests: ManifestSource | null;
  server: Server;
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish (bounded), flushes and closes. */
  close(graceMs?: number): Promise<void>;
}

/** Options for tests and embedding: everything not given comes from `config`. */
export interface StartOptions {
  config: RuntimeConfig;
  sandbox?: Sandbox;
  clock?: Clock;
  log?: Logger;
  /** Watch `config.manifestsDir` for GitOps manifests (default true). */
  watchManifests?: boolean;
}

/** Opens the data folder, starts the control loop and listens. */
export async function startServer(options: StartOptions): Promise<GlambdarServer> {
  const log = options.log ?? createLogger(options.config.logLevel);
  const runtime = await openRuntime({ ...options, log, statusOf: httpStatusOf });
  const manifests = options.watchManifests === false ? null : new ManifestSource({ dir: options.config.manifestsDir, target: runtime, log });
  const app = createApp(runtime, log, manifests);
  const invoke = createInvokeHandler(runtime, log);
  const enqueue = createAsyncHandler(runtime, log);
  const server = createServer((req, res) => {
    if (req.url?.startsWith(INVOKE_PREFIX)) invoke(req, res);
    else if (req.url?.startsWith(ASYNC_PREFIX)) enqueue(req, res);
    else app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await runtime.start();
  try {
    // The whole folder is read and applied before listening, so the first /manifests is complete.
    await manifests?.start();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.config.port, options.config.host, () => resolve());
    });
  } catch (err) {
    // A port in use, say: stop what started (stem cells being created) so nothing outlives us.
    await manifests?.close();
    await runtime.stop();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.config.host}:${port}`;
  log.info(`glambdar listening on ${url} (data in ${options.config.dir})`);
  let closing: Promise<void> | null = null;
  return {
    runtime,
    log,
    manifests,
    server,
    url,
    port,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearTimeout(timer);
        await manifests?.close();
        await runtime.stop();
      })();
      return closing;
    },
  };
}
