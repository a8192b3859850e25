import Database from 'better-sqlite3';
import { openDatabase } from '../state/sqlite-connection.js';
import type { CallbackState, Job, JobCounts, JobFinish, JobStatus, NewJob } from './job.js';
import type { JobStore, ScheduleState } from './job-store.js';

interface JobRow {
  seq: number;
  request_id: string;
  func_name: string;
  status: JobStatus;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  next_attempt_at: number | null;
  method: string;
  path: string;
  query: string;
  headers: string;
  body: Buffer;
  callback_url: string | null;
  scheduled_at: number | null;
  tag: string | null;
  status_code: number | null;
  response: string | null;
  error: string | null;
  history: string;
  callback: string | null;
}

interface ScheduleRow {
  func_name: string;
  expression: string;
  timezone: string;
  since: number;
  last_schedule_time: number | null;
  last_considered: number | null;
  skipped: number;
  last_skip_time: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL UNIQUE,
  func_name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  attempt_started_at INTEGER,
  finished_at INTEGER,
  next_attempt_at INTEGER,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  query TEXT NOT NULL,
  headers TEXT NOT NULL,
  body BLOB NOT NULL,
  callback_url TEXT,
  scheduled_at INTEGER,
  tag TEXT,
  status_code INTEGER,
  response TEXT,
  error TEXT,
  history TEXT NOT NULL DEFAULT '[]',
  callback TEXT,
  callback_pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (func_name, status, next_attempt_at, seq);
CREATE INDEX IF NOT EXISTS jobs_function_status ON jobs (func_name, status, seq);
CREATE INDEX IF NOT EXISTS jobs_function ON jobs (func_name, seq);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_callbacks ON jobs (callback_pending) WHERE callback_pending = 1;
CREATE TABLE IF NOT EXISTS schedules (
  func_name TEXT PRIMARY KEY,
  expression TEXT NOT NULL,
  timezone TEXT NOT NULL,
  since INTEGER NOT NULL,
  last_schedule_time INTEGER,
  last_considered INTEGER,
  skipped INTEGER NOT NULL DEFAULT 0,
  last_skip_time INTEGER
);
`;

function toJob(row: JobRow): Job {
  return {
    seq: row.seq,
    requestId: row.request_id,
    funcName: row.func_name,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    nextAttemptAt: row.next_attempt_at,
    request: {
      method: row.method,
      path: row.path,
      query: JSON.parse(row.query) as Job['request']['query'],
      headers: JSON.parse(row.headers) as Job['request']['headers'],
    },
    body: row.body,
    callbackUrl: row.callback_url,
    scheduledAt: row.scheduled_at,
    tag: row.tag ?? null,
    statusCode: row.status_code,
    response: row.response === null ? null : (JSON.parse(row.response) as Job['response']),
    error: row.error,
    history: JSON.parse(row.history) as Job['history'],
    callback: row.callback === null ? null : (JSON.parse(row.callback) as CallbackState),
  };
}

function toSchedule(row: ScheduleRow): ScheduleState {
  return {
    funcName: row.func_name,
    expression: row.expression,
    timezone: row.timezone,
    since: row.since,
    lastScheduleTime: row.last_schedule_time,
    lastConsidered: row.last_considered,
    skipped: row.skipped,
    lastSkipTime: row.last_skip_time,
  };
}

/**
 * The better-sqlite3 adapter of {@link JobStore}: tables `jobs` and `schedules` in the runtime's
 * database file, on a connection of their own (WAL: the store's and the record writer's
 * connections write beside it). Writes that read first run in IMMEDIATE transactions.
 */
export class SqliteJobStore implements JobStore {
  #db: Database.Database;
  #s;

  /** `path`: the database file, or `:memory:` for tests. */
  constructor(path: string) {
    this.#db = openDatabase(path, SCHEMA);
    this.#db.pragma('synchronous = NORMAL');
    // A database made before revisions: jobs name no traffic tag.
    const columns = this.#db.prepare<[], { name: string }>('PRAGMA table_info(jobs)').all();
    if (!columns.some((c) => c.name === 'tag')) this.#db.exec('ALTER TABLE jobs ADD COLUMN tag TEXT');
    const db = this.#db;
    this.#s = {
      insert: db.prepare(
        `INSERT INTO jobs (request_id, func_name, status, created_at, next_attempt_at, method, path, query, headers, body, callback_url, scheduled_at, tag, callback, callback_pending)
         VALUES (@requestId, @funcName, 'queued', @now, @now, @method, @path, @query, @headers, @body, @callbackUrl, @scheduledAt, @tag, @callback, 0)`,
      ),
      get: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE request_id = ?'),
      listAll: db.prepare<[number], JobRow>('SELECT * FROM jobs ORDER BY seq DESC LIMIT ?'),
      listFunction: db.prepare<[string, number], JobRow>('SELECT * FROM jobs WHERE func_name = ? ORDER BY seq DESC LIMIT ?'),
      listStatus: db.prepare<[string, number], JobRow>('SELECT * FROM jobs WHERE status = ? ORDER BY seq DESC LIMIT ?'),
      listBoth: db.prepare<[string, string, number], JobRow>('SELECT * FROM jobs WHERE func_name = ? AND status = ? ORDER BY seq DESC LIMIT ?'),
      claim: db.prepare<[number, number, string, number, number], JobRow>(
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?), attempt_started_at = ?, next_attempt_at = NULL
         WHERE seq IN (SELECT seq FROM jobs WHERE func_name = ? AND status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?)
         RETURNING *`,
      ),
      finish: db.prepare(
        `UPDATE jobs SET status = @status, finished_at = @finishedAt, next_attempt_at = @nextAttemptAt, status_code = @statusCode,
           response = @response, error = @error, history = CASE WHEN @entry IS NULL THEN history ELSE json_insert(history, '$[#]', json(@entry)) END,
           callback_pending = CASE WHEN callback IS NOT NULL AND @finishedAt IS NOT NULL THEN 1 ELSE callback_pending END
         WHERE request_id = @requestId AND status = 'running'`,
      ),
      nextDue: db.prepare<[string], { at: number | null }>(
        `SELECT MIN(next_attempt_at) AS at FROM jobs WHERE func_name = ? AND status = 'queued'`,
      ),
      running: db.prepare<[], JobRow>(`SELECT * FROM jobs WHERE status = 'running'`),
      recover: db.prepare<[number, string]>(`UPDATE jobs SET status = 'queued', next_attempt_at = ? WHERE request_id = ? AND status = 'running'`),
      withQueued: db.prepare<[], { func_name: string }>(`SELECT DISTINCT func_name FROM jobs WHERE status = 'queued'`),
      kill: db.prepare(
        `UPDATE jobs SET status = 'dead', finished_at = @now, next_attempt_at = NULL, error = @reason,
           callback_pending = CASE WHEN callback IS NOT NULL THEN 1 ELSE 0 END
         WHERE func_name = @funcName AND status = 'queued'`,
      ),
      requeue: db.prepare<[number, string], JobRow>(
        `UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = ?, finished_at = NULL, error = NULL,
           callback = CASE WHEN callback IS NULL THEN NULL ELSE json_set(callback, '$.state', 'pending', '$.attempts', 0, '$.statusCode', NULL, '$.error', NULL, '$.at', NULL) END,
           callback_pending = 0
         WHERE request_id = ? AND status = 'dead' RETURNING *`,
      ),
      openScheduled: db.prepare<[string], { n: number }>(
        `SELECT 1 AS n FROM jobs WHERE func_name = ? AND status IN ('queued', 'running') AND scheduled_at IS NOT NULL LIMIT 1`,
      ),
      openCounts: db.prepare<[], { func_name: string; n: number }>(
        `SELECT func_name, COUNT(*) AS n FROM jobs WHERE status != 'succeeded' GROUP BY func_name`,
      ),
      counts: db.prepare<[], { func_name: string; status: JobStatus; n: number; oldest: number }>(
        `SELECT func_name, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs WHERE status != 'succeeded' GROUP BY func_name, status`,
      ),
      trimOld: db.prepare(`DELETE FROM jobs WHERE status = 'succeeded' AND finished_at < ?`),
      functionTotals: db.prepare<[number], { func_name: string; n: number }>(
        `SELECT func_name, COUNT(*) AS n FROM jobs GROUP BY func_name HAVING COUNT(*) > ?`,
      ),
      trimFunction: db.prepare(
        `DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE func_name = ? AND status = 'succeeded' ORDER BY seq LIMIT ?)`,
      ),
      setCallback: db.prepare(`UPDATE jobs SET callback = ?, callback_pending = ? WHERE request_id = ?`),
      pendingCallbacks: db.prepare<[], JobRow>(`SELECT * FROM jobs WHERE callback_pending = 1 ORDER BY seq`),
      getSchedule: db.prepare<[string], ScheduleRow>('SELECT * FROM schedules WHERE func_name = ?'),
      putSchedule: db.prepare(
        `INSERT INTO schedules (func_name, expression, timezone, since, last_schedule_time, last_considered, skipped, last_skip_time)
         VALUES (@funcName, @expression, @timezone, @since, @lastScheduleTime, @lastConsidered, @skipped, @lastSkipTime)
         ON CONFLICT(func_name) DO UPDATE SET expression = excluded.expression, timezone = excluded.timezone, since = excluded.since,
           last_schedule_time = excluded.last_schedule_time, last_considered = excluded.last_considered,
           skipped = excluded.skipped, last_skip_time = excluded.last_skip_time`,
      ),
      deleteSchedule: db.prepare('DELETE FROM schedules WHERE func_name = ?'),
    };
  }

  enqueue(job: NewJob, now: number): Job {
    this.#insert(job, now);
    return this.get(job.requestId)!;
  }

  #insert(job: NewJob, now: number): void {
    const callback: CallbackState | null = job.callbackUrl
      ? { url: job.callbackUrl, state: 'pending', attempts: 0, statusCode: null, error: null, at: null }
      : null;
    this.#s.insert.run({
      requestId: job.requestId,
      funcName: job.funcName,
      now,
      method: job.request.method,
      path: job.request.path,
      query: JSON.stringify(job.request.query),
      headers: JSON.stringify(job.request.headers),
      body: job.body,
      callbackUrl: job.callbackUrl,
      scheduledAt: job.scheduledAt,
      tag: job.tag ?? null,
      callback: callback ? JSON.stringify(callback) : null,
    });
  }

  get(requestId: string): Job | undefined {
    const row = this.#s.get.get(requestId);
    return row ? toJob(row) : undefined;
  }

  list(filter: { funcName?: string; status?: JobStatus; limit: number }): Job[] {
    const { funcName, status, limit } = filter;
    let rows: JobRow[];
    if (funcName && status) rows = this.#s.listBoth.all(funcName, status, limit);
    else if (funcName) rows = this.#s.listFunction.all(funcName, limit);
    else if (status) rows = this.#s.listStatus.all(status, limit);
    else rows = this.#s.listAll.all(limit);
    return rows.map(toJob);
  }

  claim(funcName: string, now: number, limit: number): Job[] {
    return this.#s.claim
      .all(now, now, funcName, now, limit)
      .sort((a, b) => a.seq - b.seq)
      .map(toJob);
  }

  finish(requestId: string, finish: JobFinish): void {
    const terminal = finish.kind !== 'retry';
    this.#s.finish.run({
      requestId,
      status: finish.kind === 'retry' ? 'queued' : finish.kind,
      finishedAt: terminal ? finish.at : null,
      nextAttemptAt: finish.kind === 'retry' ? finish.nextAttemptAt : null,
      statusCode: finish.statusCode,
      response: finish.response ? JSON.stringify(finish.response) : null,
      error: finish.kind === 'succeeded' ? null : finish.error,
      entry: finish.entry ? JSON.stringify(finish.entry) : null,
    });
  }

  nextDueAt(funcName: string): number | null {
    return this.#s.nextDue.get(funcName)?.at ?? null;
  }

  recoverInterrupted(now: number, wasLast: (job: Job) => boolean): { requeued: number; ended: number } {
    const outcome = { requeued: 0, ended: 0 };
    this.#db.transaction(() => {
      for (const job of this.#s.running.all().map(toJob)) {
        if (!wasLast(job)) {
          outcome.requeued += this.#s.recover.run(now, job.requestId).changes;
          continue;
        }
        const error = `the runtime stopped during the job's last try (attempt ${job.attempts}); no answer came`;
        this.finish(job.requestId, { kind: 'dead', at: now, statusCode: null, response: null, error, entry: null });
        outcome.ended += 1;
      }
    })();
    return outcome;
  }

  functionsWithQueued(): string[] {
    return this.#s.withQueued.all().map((r) => r.func_name);
  }

  killQueued(funcName: string, reason: string, now: number): number {
    return this.#s.kill.run({ funcName, reason, now }).changes;
  }

  requeue(requestId: string, now: number): Job | undefined {
    const row = this.#s.requeue.get(now, requestId);
    return row ? toJob(row) : undefined;
  }

  hasOpenScheduled(funcName: string): boolean {
    return this.#s.openScheduled.get(funcName) !== undefined;
  }

  openCounts(): Map<string, number> {
    return new Map(this.#s.openCounts.all().map((r) => [r.func_name, r.n]));
  }

  counts(): JobCounts[] {
    const byName = new Map<string, JobCounts>();
    for (const row of this.#s.counts.all()) {
      let c = byName.get(row.func_name);
      if (!c) {
        c = { funcName: row.func_name, queued: 0, running: 0, dead: 0, oldestOpenAt: null };
        byName.set(row.func_name, c);
      }
      if (row.status === 'queued' || row.status === 'running') {
        c[row.status] = row.n;
        c.oldestOpenAt = c.oldestOpenAt === null ? row.oldest : Math.min(c.oldestOpenAt, row.oldest);
      } else if (row.status === 'dead') c.dead = row.n;
    }
    return [...byName.values()].sort((a, b) => a.funcName.localeCompare(b.funcName));
  }

  trimSucceeded(before: number, keepPerFunction: number): number {
    return this.#db.transaction(() => {
      let gone = this.#s.trimOld.run(before).changes;
      for (const { func_name, n } of this.#s.functionTotals.all(keepPerFunction)) gone += this.#s.trimFunction.run(func_name, n - keepPerFunction).changes;
      return gone;
    }).immediate();
  }

  setCallback(requestId: string, callback: CallbackState): void {
    this.#s.setCallback.run(JSON.stringify(callback), callback.state === 'pending' ? 1 : 0, requestId);
  }

  pendingCallbacks(): Job[] {
    return this.#s.pendingCallbacks.all().map(toJob);
  }

  scheduleState(funcName: string): ScheduleState | undefined {
    const row = this.#s.getSchedule.get(funcName);
    return row ? toSchedule(row) : undefined;
  }

  recordFire(state: ScheduleState, job: NewJob | null, now: number): Job | null {
    this.#db.transaction(() => {
      if (job) this.#insert(job, now);
      this.#s.putSchedule.run(state);
    }).immediate();
    return job ? this.get(job.requestId)! : null;
  }

  deleteScheduleState(funcName: string): void {
    this.#s.deleteSchedule.run(funcName);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
