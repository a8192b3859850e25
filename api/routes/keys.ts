import type express from 'express';
import { checkFunctionName, type Runtime } from '../../controller/index.js';

/**
 * Keys of private functions (`spec.auth: key`): made one at a time and shown once, listed
 * without themselves, revoked at once.
 */
export function keyRoutes(app: express.Express, runtime: Runtime): void {
  app.post('/keys/:name', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    res.status(201).json(runtime.createKey(name));
  });

  app.get('/keys/:name', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    const keys = runtime.listKeys(name);
    res.json({ function: name, count: keys.length, keys });
  });

  app.delete('/keys/:name/:id', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    const id = req.params['id'] as string;
    runtime.revokeKey(name, id);
    res.json({ function: name, revoked: id });
  });
}
