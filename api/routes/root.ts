import type express from 'express';
import { VERSION } from '../version.js';

/** Routes served ahead of express (api/server.ts): they are in no router stack. */
const LEAN_ROUTES = ['ANY /invoke/:name[@tag][/path]', 'POST|PUT /async/:name[@tag][/path]'];

/** Every route express serves, as `METHOD /path`, read from its router: what other modules add shows up too. */
function expressRoutes(app: express.Express): string[] {
  const stack = (app as unknown as { router?: { stack?: Array<{ route?: { path?: unknown; methods?: Record<string, boolean> } }> } }).router?.stack ?? [];
  const routes: string[] = [];
  for (const layer of stack) {
    const route = layer.route;
    if (!route || typeof route.path !== 'string') continue;
    const methods = Object.keys(route.methods ?? {}).filter((m) => m !== '_all').map((m) => m.toUpperCase());
    routes.push(`${methods.join('|')} ${route.path}`);
  }
  return routes;
}

/**
 * `GET /`: what this server is and every route it serves, so a first `curl localhost:8000`
 * says where to go next (README "API" says what each does). Registered last, it reads the
 * router when asked.
 */
export function rootRoute(app: express.Express): void {
  app.get('/', (_req, res) => {
    res.json({ name: 'glambdar', version: VERSION, docs: 'README.md, section API', routes: [...LEAN_ROUTES, ...expressRoutes(app)] });
  });
}
