import express from 'express';
import { checkSecretName, MAX_SECRET_BYTES, PayloadTooLarge, type Runtime } from '../../controller/index.js';

const readValue = express.raw({ type: () => true, limit: MAX_SECRET_BYTES });

/**
 * Secrets: `PUT` stores the raw request body as the value, `GET` lists names, sizes, times and
 * users (never a value), `DELETE` refuses while a function names it. `onCreated` runs after a
 * new secret exists (the GitOps source looks again at manifests that were waiting for it).
 */
export function secretRoutes(app: express.Express, runtime: Runtime, onCreated: () => void = () => undefined): void {
  app.put(
    '/secrets/:secret',
    (req, _res, next) => {
      // The name first: a bad one is refused before any of the body is read.
      checkSecretName(req.params['secret'] as string);
      next();
    },
    (req, res, next) =>
      readValue(req, res, (err?: unknown) =>
        next((err as { type?: string } | undefined)?.type === 'entity.too.large' ? new PayloadTooLarge(`a secret value is at most ${MAX_SECRET_BYTES / 1024} KiB`) : err),
      ),
    (req, res) => {
      const value = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { outcome, secret, rolled } = runtime.putSecret(req.params['secret'] as string, value);
      if (outcome === 'created') onCreated();
      res.status(outcome === 'created' ? 201 : 200).json({ ...secret, status: outcome, rolled });
    },
  );

  app.get('/secrets', (_req, res) => {
    const secrets = runtime.listSecrets();
    res.json({ count: secrets.length, secrets });
  });

  app.get('/secrets/:secret', (req, res) => {
    res.json(runtime.secret(req.params['secret'] as string));
  });

  app.delete('/secrets/:secret', (req, res) => {
    const name = checkSecretName(req.params['secret'] as string);
    runtime.deleteSecret(name);
    res.json({ deleted: name });
  });
}
