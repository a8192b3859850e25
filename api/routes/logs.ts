import type express from 'express';
import type { Response } from 'express';
import { LogsQuery, parseWith } from '../../schemas/index.js';
import { checkFunctionName, InvalidInput, type LogRecord, type Runtime } from '../../controller/index.js';

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

/** `GET /logs/:name`: invocation records, newest first, or followed as NDJSON. */
export function logRoutes(app: express.Express, runtime: Runtime): void {
  app.get('/logs/:name', (req, res) => {
    const name = checkFunctionName(req.params['name'] as string);
    const query = parseWith(LogsQuery, req.query);
    if (!query.ok) throw new InvalidInput(`invalid query: ${query.issues.join('; ')}`);
    runtime.info(name); // 404 before streaming
    if (query.value.container) {
      if (query.value.follow) throw new InvalidInput('invalid query: follow is for invocation records, not with container');
      return res.json(runtime.containerLogs(name, query.value.limit));
    }
    if (query.value.follow) return followLogs(runtime, name, res, query.value.limit, query.value.since);
    res.json(runtime.logs(name, { limit: query.value.limit, since: query.value.since }));
  });

}
