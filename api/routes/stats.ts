import type express from 'express';
import { parseWith, StatsQuery } from '../../schemas/index.js';
import { checkFunctionName, InvalidInput, type Runtime } from '../../controller/index.js';

/**
 * The dashboard's data, behind the admin token like every data route: `GET /stats` (every
 * function's last minute and the runtime process) and `GET /stats/:name?seconds=` (a
 * function's per-second series). In memory, never cached by a browser.
 */
export function statsRoutes(app: express.Express, runtime: Runtime): void {
  const seconds = (query: unknown): number => {
    const parsed = parseWith(StatsQuery, query);
    if (!parsed.ok) throw new InvalidInput(`invalid query: ${parsed.issues.join('; ')}`);
    return parsed.value.seconds;
  };

  app.get('/stats', (req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.json(runtime.statsOverview(seconds(req.query)));
  });

  app.get('/stats/:name', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    res.setHeader('cache-control', 'no-store');
    res.json(runtime.stats(name, seconds(req.query)));
  });
}
