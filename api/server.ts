import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV, RuntimeConfigSchema, runtimeConfigInput, SECRET_CONFIG_FIELDS, type RuntimeConfig } from '../schemas/index.js';
import { openRuntime, createLogger, type Clock, type Logger, type Runtime, type Sandbox, type ImageBuilder } from '../controller/index.js';
import { ManifestSource } from '../manifests/index.js';
import { createApp } from './app.js';
import { httpStatusOf } from './http-errors.js';
import { createInvokeHandler, INVOKE_PREFIX } from './invoke-handler.js';
import { ASYNC_PREFIX, createAsyncHandler } from './routes/async.js';

/** A handler on bare node:http. */
type BareHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The paths served on bare node:http ahead of express (and so ahead of its guard), by URL
 * prefix. Each checks access itself with `Runtime.authorizeInvoke` (public functions take
 * anyone, private ones a key); server.test.ts walks this list, so add a new one here.
 */
export const PREFIX_ROUTES: ReadonlyArray<{ prefix: string; create: (runtime: Runtime, log: Logger) => BareHandler }> = [
  { prefix: INVOKE_PREFIX, create: createInvokeHandler },
  { prefix: ASYNC_PREFIX, create: createAsyncHandler },
];

/** Reads the runtime configuration from the environment, with readable errors. */
export function loadConfig(env: Record<string, string | undefined> = process.env): RuntimeConfig {
  const parsed = RuntimeConfigSchema.safeParse(runtimeConfigInput(env, join(homedir(), '.glambdar')));
  if (parsed.success) return parsed.data;
  // Name what the user set: the variable and its value, not the field behind it.
  const problems = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0]);
    const variable = CONFIG_ENV[field as keyof typeof CONFIG_ENV];
    // A token's value is never repeated, not even in an error.
    if (SECRET_CONFIG_FIELDS.has(field)) return `${variable}: ${issue.message}`;
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
  /** Builds function images (`POST /images/:name`); default: the Docker engine's builder. */
  images?: ImageBuilder;
  clock?: Clock;
  log?: Logger;
  /** Watch `config.manifestsDir` for GitOps manifests (default true). */
  watchManifests?: boolean;
}

/** Listens, or says in words that the port is taken (the error keeps node's code). */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(Object.assign(new Error(`port ${port} is in use (GLAMBDAR_PORT); stop what listens there, or set GLAMBDAR_PORT to another port`), { code: err.code }));
      else if (err.code === 'EACCES') reject(Object.assign(new Error(`port ${port} needs privileges this user does not have (GLAMBDAR_PORT); use a port above 1023`), { code: err.code }));
      else if (err.code === 'EADDRNOTAVAIL') reject(Object.assign(new Error(`${host} is not an address of this host (GLAMBDAR_HOST)`), { code: err.code }));
      else reject(err);
    });
    server.listen(port, host, () => resolve());
  });
}

/** Opens the data folder, takes the port, starts the control loop, then serves. */
export async function startServer(options: StartOptions): Promise<GlambdarServer> {
  const log = options.log ?? createLogger(options.config.logLevel);
  const { config } = options;
  if (config.auth === 'none') {
    log.warn('GLAMBDAR_AUTH=none: the control API takes requests without the admin token; anyone who can reach this machine\'s loopback address can deploy code');
  }
  const runtime = await openRuntime({ ...options, log, statusOf: httpStatusOf });
  const manifests = options.watchManifests === false ? null : new ManifestSource({ dir: config.manifestsDir, target: runtime, log });
  const app = createApp(runtime, log, manifests, { listenHost: config.host, allowedHosts: config.allowedHosts, corsOrigins: config.corsOrigins });
  const prefixed = PREFIX_ROUTES.map((route) => ({ prefix: route.prefix, handle: route.create(runtime, log) }));
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    for (const route of prefixed) if (url.startsWith(route.prefix)) return route.handle(req, res);
    app(req, res);
  };
  // The port is taken first, so a port in use stops the start before anything runs; requests
  // that come while the runtime starts wait for it (the first invoke after a restart finds the
  // containers it adopts, and the first /manifests the whole folder).
  let waiting: Array<() => void> | null = [];
  const server = createServer((req, res) => {
    if (waiting === null) handle(req, res);
    else waiting.push(() => handle(req, res));
  });
  server.keepAliveTimeout = 65_000;
  try {
    await listen(server, options.config.port, options.config.host);
  } catch (err) {
    await runtime.stop();
    throw err;
  }
  try {
    await runtime.start();
    await manifests?.start();
  } catch (err) {
    server.close();
    server.closeAllConnections();
    await manifests?.close();
    await runtime.stop();
    throw err;
  }
  const held = waiting;
  waiting = null;
  for (const run of held) run();
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
