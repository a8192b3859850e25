import express, { type Request, type Response } from 'express';
import multer from 'multer';
import { unlink } from 'node:fs/promises';
import { LogsQuery, parseWith, specPatchFromForm } from '../schemas/index.js';
import { checkFunctionName, InvalidInput, RouteNotFound, type LogRecord, type Logger, type Runtime } from '../controller/index.js';
import type { ManifestFileState } from '../manifests/index.js';
import { errorMiddleware } from './http-errors.js';
import { infoTable } from './info-table.js';
import { renderMetrics } from './metrics.js';

/** Largest upload (README "API"). */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

const functionName = checkFunctionName;

function wantsTable(req: Request): boolean {
  if (req.query['format'] === 'table') return true;
  const accept = req.get('accept') ?? '';
  return accept.includes('text/plain') && !accept.includes('application/json');
}

/** Records a follower reads per query; a poll reads up to FOLLOW_PAGES of them. */
const FOLLOW_PAGE = 1000;
const FOLLOW_PAGES = 10;

/**
 * Follow mode for `GET /logs/:name?follow=1`, like `kubectl logs -f --tail`: the newest `limit`
 * records, then every new one in order, as newline-delimited JSON. Ends when the function goes.
 */
function followLogs(runtime: Runtime, name: string, res: Response, limit: number, since: number | undefined): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  let lastId = 0;
  const send = (records: LogRecord[]) => {
    for (const r of records) {
      res.write(JSON.stringify(r) + '\n');
      lastId = r.id;
    }
  };
  const poll = () => {
    try {
      // Oldest first from the last one sent: a burst larger than a page is read in pages, not skipped.
      for (let page = 0; page < FOLLOW_PAGES; page++) {
        const records = runtime.logsAfter(name, { afterId: lastId, limit: FOLLOW_PAGE, since });
        send(records);
        if (records.length < FOLLOW_PAGE) break;
      }
    } catch {
      res.end();
    }
  };
  try {
    send(runtime.logs(name, { limit, since }).reverse());
  } catch {
    res.end();
    return;
  }
  const timer = setInterval(poll, 500);
  res.on('close', () => clearInterval(timer));
}

/** What `GET /manifests` reads: the GitOps source, when one runs. */
export interface ManifestStates {
  files(): ManifestFileState[];
}

/**
 * The control-plane routes (README "API") on express. Handlers parse input, call the runtime
 * and throw; the error middleware is the only place errors become HTTP. Without a manifests
 * source, `GET /manifests` lists nothing.
 */
export function createApp(runtime: Runtime, log: Logger, manifests: ManifestStates | null = null): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const upload = multer({
    dest: runtime.uploadDir,
    limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });

  app.post('/deploy', upload.single('file'), async (req, res) => {
    const file = req.file;
    try {
      if (!file) throw new InvalidInput('multipart field "file" with the function\'s .zip is required');
      const fields = (req.body ?? {}) as Record<string, unknown>;
      const rawName = typeof fields['name'] === 'string' && fields['name'] !== '' ? fields['name'] : file.originalname.replace(/\.zip$/i, '');
      const name = functionName(rawName);
      const { outcome, record } = await runtime.deploy({ name, code: { kind: 'zip', path: file.path }, patch: specPatchFromForm(fields) });
      res.status(outcome === 'created' ? 201 : 200).json({
        function: name,
        status: outcome === 'created' ? 'deployed' : 'updated',
        generation: record.generation,
      });
    } finally {
      if (file) await unlink(file.path).catch(() => undefined);
    }
  });

  app.post('/config/:name', express.json({ limit: '1mb' }), (req, res) => {
    const name = functionName(req.params['name'] as string);
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new InvalidInput('body must be a JSON object of spec fields, e.g. {"rateLimit": 5}');
    }
    const { record } = runtime.configure(name, req.body);
    res.json({ function: name, status: 'updated', generation: record.generation, ...record.spec });
  });

  app.get('/info', (req, res) => {
    const functions = runtime.list();
    if (wantsTable(req)) res.type('text/plain').send(infoTable(functions, Date.now()));
    else res.json({ count: functions.length, functions });
  });

  app.get('/info/:name', (req, res) => {
    const info = runtime.info(functionName(req.params['name'] as string));
    if (wantsTable(req)) res.type('text/plain').send(infoTable([info], Date.now()));
    else res.json(info);
  });

  app.get('/logs/:name', (req, res) => {
    const name = functionName(req.params['name'] as string);
    const query = parseWith(LogsQuery, req.query);
    if (!query.ok) throw new InvalidInput(`invalid query: ${query.issues.join('; ')}`);
    runtime.info(name); // 404 before streaming
    if (query.value.follow) return followLogs(runtime, name, res, query.value.limit, query.value.since);
    res.json(runtime.logs(name, { limit: query.value.limit, since: query.value.since }));
  });

  app.delete('/del/:name', async (req, res) => {
    const name = functionName(req.params['name'] as string);
    await runtime.remove(name);
    res.json({ deleted: name });
  });

  app.get('/manifests', (_req, res) => {
    res.json(manifests?.files() ?? []);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', instance: runtime.instanceId });
  });

  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(renderMetrics(runtime));
  });

  app.use((req) => {
    throw new RouteNotFound(`no route ${req.method} ${req.path}`);
  });
  app.use(errorMiddleware(log));
  return app;
}
