import type express from 'express';
import { InvocationsQuery, parseWith } from '../../schemas/index.js';
import { InvalidInput, type Runtime } from '../../controller/index.js';

/** Async jobs: one by its request id, a list newest first, and a new round of tries for a dead one. */
export function invocationRoutes(app: express.Express, runtime: Runtime): void {
  app.get('/invocations', (req, res) => {
    const query = parseWith(InvocationsQuery, req.query);
    if (!query.ok) throw new InvalidInput(`invalid query: ${query.issues.join('; ')}`);
    const { function: funcName, status, limit } = query.value;
    res.json(runtime.jobs({ funcName, status, limit }));
  });

  app.get('/invocations/:id', (req, res) => {
    res.json(runtime.job(req.params['id'] as string));
  });

  app.post('/invocations/:id/retry', (req, res) => {
    const job = runtime.retryJob(req.params['id'] as string);
    res.status(202).location(`/invocations/${job.requestId}`).json(job);
  });
}
