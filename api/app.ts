import express from 'express';
import { RouteNotFound, type Logger, type Runtime } from '../controller/index.js';
import type { ManifestFileState } from '../manifests/index.js';
import { controlGuard, type GuardOptions } from './guard.js';
import { errorMiddleware } from './http-errors.js';
import { renderMetrics } from './metrics.js';
import { exportRoutes } from './routes/export.js';
import { imageRoutes } from './routes/images.js';
import { functionRoutes } from './routes/functions.js';
import { keyRoutes } from './routes/keys.js';
import { invocationRoutes } from './routes/invocations.js';
import { logRoutes } from './routes/logs.js';
import { secretRoutes } from './routes/secrets.js';
import { revisionRoutes } from './routes/revisions.js';
import { rootRoute } from './routes/root.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { statsRoutes } from './routes/stats.js';

/** What `GET /manifests` reads: the GitOps source, when one runs. */
export interface ManifestStates {
  files(): ManifestFileState[];
  /** Reads every manifest again (a secret one of them names may exist now). */
  resync?(): Promise<void>;
}

/** A guard that answers only this machine's names and no browser origin: for embedding and tests. */
const LOCAL_ONLY: GuardOptions = { listenHost: '127.0.0.1', allowedHosts: [], corsOrigins: [] };

/**
 * The control-plane routes (README "API") on express, one module per group under routes/,
 * all behind one guard (guard.ts: host, origin, admin token). Handlers parse input, call the
 * runtime and throw; the error middleware is the only place errors become HTTP. Without a
 * manifests source, `GET /manifests` lists nothing.
 */
export function createApp(runtime: Runtime, log: Logger, manifests: ManifestStates | null = null, guard: GuardOptions = LOCAL_ONLY): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // First of all: every route below, and any added later, is behind it.
  app.use(controlGuard(runtime, guard));
  functionRoutes(app, runtime);
  logRoutes(app, runtime);
  keyRoutes(app, runtime);
  secretRoutes(app, runtime, () => {
    manifests?.resync?.().catch((err: unknown) => log.warn(`manifests: resync after a new secret failed: ${(err as Error).message}`));
  });
  revisionRoutes(app, runtime);
  invocationRoutes(app, runtime);
  exportRoutes(app, runtime);
  imageRoutes(app, runtime);
  statsRoutes(app, runtime);
  dashboardRoutes(app);

  app.get('/manifests', (_req, res) => {
    res.json(manifests?.files() ?? []);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', instance: runtime.instanceId });
  });

  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(renderMetrics(runtime));
  });

  rootRoute(app);

  app.use((req) => {
    throw new RouteNotFound(`no route ${req.method} ${req.path}; GET / lists the routes`);
  });
  app.use(errorMiddleware(log));
  return app;
}
