import express from 'express';
import multer from 'multer';
import { unlink } from 'node:fs/promises';
import { InfoQuery, parseWith, specPatchFromForm } from '../../schemas/index.js';
import { checkFunctionName, InvalidArchive, InvalidInput, InvalidName, looksLikeZip, suggestFunctionName, type FunctionInfo, type Runtime } from '../../controller/index.js';
import { infoTable, wantsTable } from '../info-table.js';

/** Largest upload (README "API"). */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

const functionName = checkFunctionName;

/** The function's name from its zip's file name, or InvalidName suggesting a `name` field. */
function nameFromFile(fileName: string): string {
  const raw = fileName.replace(/\.zip$/i, '');
  try {
    return functionName(raw);
  } catch (err) {
    if (!(err instanceof InvalidName)) throw err;
    const suggestion = suggestFunctionName(raw);
    const hint = `the name comes from the file name ${JSON.stringify(fileName.slice(0, 100))}: rename the file, or give the name as a form field` + (suggestion ? ` (curl -F name=${suggestion}, glambdar deploy FILE name=${suggestion})` : ' (curl -F name=...)');
    throw new InvalidName(`${err.message}; ${hint}`);
  }
}

/** Deploy, configure, read and delete functions: the original Glambdar's control routes. */
export function functionRoutes(app: express.Express, runtime: Runtime): void {
  const upload = multer({
    dest: runtime.uploadDir,
    limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });

  // A full disk refuses the deploy before the upload is written.
  const storage: express.RequestHandler = (_req, _res, next) => {
    runtime.checkStorage();
    next();
  };

  app.post('/deploy', storage, upload.single('file'), async (req, res) => {
    const file = req.file;
    try {
      if (!file) throw new InvalidInput('multipart field "file" with the function\'s .zip is required');
      if (!(await looksLikeZip(file.path))) {
        throw new InvalidArchive(`upload ${JSON.stringify(file.originalname.slice(0, 100))} is not a zip archive: zip the function's folder (e.g. cd myfunc && zip -r ../myfunc.zip .) and deploy the .zip`);
      }
      const fields = (req.body ?? {}) as Record<string, unknown>;
      const named = typeof fields['name'] === 'string' && fields['name'] !== '';
      const name = named ? functionName(fields['name'] as string) : nameFromFile(file.originalname);
      const wait = req.query['wait'];
      if (wait !== undefined && wait !== 'ready') throw new InvalidInput('invalid query: wait: must be "ready" (answer once the new generation has loaded)');
      const { outcome, record } = await runtime.deploy({ name, code: { kind: 'zip', path: file.path }, patch: specPatchFromForm(fields) });
      if (wait === 'ready') await runtime.awaitReady(name);
      res.status(outcome === 'created' ? 201 : 200).json({
        function: name,
        status: outcome === 'created' ? 'deployed' : 'updated',
        generation: record.generation,
        ...(wait === 'ready' ? { ready: true } : {}),
      });
    } finally {
      if (file) await unlink(file.path).catch(() => undefined);
    }
  });

  app.post('/config/:name', express.json({ limit: '1mb' }), async (req, res) => {
    const name = functionName(req.params['name'] as string);
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new InvalidInput('body must be a JSON object of spec fields, e.g. {"rateLimit": 5}');
    }
    // A new handler's entry is readied first (a TypeScript one compiled); configure then checks it.
    await runtime.prepareHandler(name, req.body);
    const { record } = runtime.configure(name, req.body);
    res.json({ function: name, status: 'updated', generation: record.generation, ...record.spec });
  });

  // The whole list's JSON, by the snapshot it was made of: pollers of GET /info share one encoding.
  const encoded = new WeakMap<readonly FunctionInfo[], Buffer>();
  app.get('/info', (req, res) => {
    const query = parseWith(InfoQuery, req.query);
    if (!query.ok) throw new InvalidInput(`invalid query: ${query.issues.join('; ')}`);
    const page = runtime.listPage({ limit: query.value.limit, continue: query.value.continue });
    if (wantsTable(req)) {
      res.type('text/plain').send(infoTable(page.functions, Date.now()));
      return;
    }
    let body = encoded.get(page.functions);
    if (!body) {
      body = Buffer.from(JSON.stringify({ count: page.functions.length, functions: page.functions, continue: page.continue, remaining: page.remaining }));
      if (page.continue === null && query.value.continue === undefined) encoded.set(page.functions, body);
    }
    res.type('application/json').send(body);
  });

  app.get('/info/:name', (req, res) => {
    const info = runtime.info(functionName(req.params['name'] as string));
    if (wantsTable(req)) res.type('text/plain').send(infoTable([info], Date.now()));
    else res.json(info);
  });

  app.delete('/del/:name', async (req, res) => {
    const name = functionName(req.params['name'] as string);
    // A DELETE says what it did: gone (200), or still draining after the wait (202).
    if ((await runtime.remove(name)) === 'deleted') res.json({ deleted: name });
    else res.status(202).json({ function: name, status: 'deleting', message: `function "${name}" is still draining its in-flight requests; it goes once they finish (at most its timeoutMs), and its name cannot be deployed until then` });
  });

}
