import express from 'express';
import { parseWith, RollbackBody } from '../../schemas/index.js';
import { checkFunctionName, InvalidInput, type Runtime } from '../../controller/index.js';
import { revisionsTable, wantsTable } from '../info-table.js';

/** `GET /revisions/:name` (the kept revisions, with traffic, tags and containers) and `POST /rollback/:name`. */
export function revisionRoutes(app: express.Express, runtime: Runtime): void {
  app.get('/revisions/:name', (req, res) => {
    const revisions = runtime.revisions(checkFunctionName(req.params['name'] as string));
    if (wantsTable(req)) res.type('text/plain').send(revisionsTable(revisions, Date.now()));
    else res.json(revisions);
  });

  app.post('/rollback/:name', express.json({ limit: '64kb' }), (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    // No body, or an empty one: the revision before the latest.
    const body: unknown = req.body ?? {};
    const parsed = parseWith(RollbackBody, body);
    if (!parsed.ok) throw new InvalidInput(`invalid rollback: ${parsed.issues.join('; ')}`);
    const { outcome, record, from } = runtime.rollback(name, parsed.value);
    res.json({
      function: name,
      status: outcome === 'unchanged' ? 'unchanged' : 'rolled back',
      generation: record.generation,
      revision: record.revision,
      rolledBackTo: from.revision,
    });
  });
}
