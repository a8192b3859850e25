import type express from 'express';
import type { Request } from 'express';
import { ExportQuery, parseWith } from '../../schemas/index.js';
import { checkFunctionName, InvalidInput, type Runtime } from '../../controller/index.js';
import { renderExport, type ExportOptions } from '../export/index.js';

function exportOptions(req: Request): ExportOptions {
  const query = parseWith(ExportQuery, req.query);
  if (!query.ok) throw new InvalidInput(`invalid query: ${query.issues.join('; ')}`);
  return query.value;
}

/**
 * `GET /export/:name?format=knative|kubernetes[&imagePrefix=R]` and `GET /export?format=` (every
 * function): the function's Knative or Kubernetes objects as YAML, each validated against its
 * schema first (docs/kubernetes.md). The CLI's `glambdar export` prints what these return.
 */
export function exportRoutes(app: express.Express, runtime: Runtime): void {
  app.get('/export', (req, res) => {
    const options = exportOptions(req);
    res.type('text/yaml').send(renderExport(runtime.list(), options));
  });

  app.get('/export/:name', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    const options = exportOptions(req);
    res.type('text/yaml').send(renderExport([runtime.info(name)], options));
  });
}
