import type express from 'express';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compiledFile } from '../../controller/index.js';
import { DASHBOARD_HEADERS, FAVICON_SVG, SHELL_HTML } from '../dashboard/shell.js';

/** A file of the dashboard: where it is served, its type, and where its bytes come from. */
interface Asset {
  path: string;
  type: string;
  /** The text itself, or the file `npm run build` writes under dist/. */
  source: { text: string } | { built: string };
}

const ASSETS: readonly Asset[] = [
  { path: '/ui', type: 'text/html; charset=utf-8', source: { text: SHELL_HTML } },
  { path: '/ui/app.js', type: 'text/javascript; charset=utf-8', source: { built: 'dashboard/app.js' } },
  { path: '/ui/app.css', type: 'text/css; charset=utf-8', source: { built: 'dashboard/app.css' } },
  { path: '/ui/favicon.svg', type: 'image/svg+xml', source: { text: FAVICON_SVG } },
];

/**
 * The routes the guard leaves open (api/guard.ts): the page shell and its static assets, which
 * carry no data (every figure comes from the data routes, behind the admin token).
 */
export const DASHBOARD_OPEN_ROUTES: readonly string[] = [...ASSETS.map((a) => `GET ${a.path}`), 'GET /ui/'];

/**
 * `GET /ui`: the dashboard, served by the runtime itself from the package (no CDN, works
 * offline). Built files are read once, at their first request, and kept in memory.
 */
export function dashboardRoutes(app: express.Express): void {
  for (const asset of ASSETS) {
    let body: { bytes: Buffer; etag: string } | undefined;
    app.get(asset.path, (req, res) => {
      if (!body) {
        const bytes = 'text' in asset.source ? Buffer.from(asset.source.text) : readFileSync(compiledFile(asset.source.built));
        body = { bytes, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"` };
      }
      res.set(DASHBOARD_HEADERS).set('etag', body.etag).type(asset.type);
      if (req.headers['if-none-match'] === body.etag) res.status(304).end();
      else res.send(body.bytes);
    });
  }
}
