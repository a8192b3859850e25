import express from 'express';
import { ImageBuildBody, parseWith } from '../../schemas/index.js';
import { checkFunctionName, InvalidInput, type Runtime } from '../../controller/index.js';

/**
 * `POST /images/:name` (JSON body `{imagePrefix?, tag?}`, or none): builds the image of the
 * function's latest revision with the Docker engine, offline, and answers 201 with its
 * reference, id and labels (docs/kubernetes.md "The image"). `glambdar image` calls it.
 */
export function imageRoutes(app: express.Express, runtime: Runtime): void {
  app.post('/images/:name', express.json({ limit: '16kb' }), async (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    const body = parseWith(ImageBuildBody, req.body ?? {});
    if (!body.ok) throw new InvalidInput(`invalid body: ${body.issues.join('; ')}`);
    res.status(201).json(await runtime.image(name, body.value));
  });
}
