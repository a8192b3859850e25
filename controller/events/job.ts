import type { InvokeRequest } from '../pool/worker-client.js';

/** Where an async job is: waiting (first try or a retry), in a try, done, or out of tries. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'dead';

/** The statuses, for queries that take one. */
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'dead'];

/** One try of a job, as the job keeps it (each is also an invocation record in the logs). */
export interface AttemptEntry {
  attempt: number;
  startedAt: number;
  finishedAt: number;
  statusCode: number;
  error: string | null;
}

/** A response as a job keeps it: its first 256 KiB, text as it is, anything else as base64. */
export interface StoredResponse {
  headers: Record<string, string | string[]>;
  body: string;
  encoding: 'utf8' | 'base64';
  /** The whole body's size in bytes. */
  size: number;
  truncated: boolean;
}

/** Where the delivery of a job's result to its callback URL is. */
export interface CallbackState {
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  statusCode: number | null;
  error: string | null;
  at: number | null;
}

/** What an async call asks for: the request as /invoke would pass it. */
export interface NewJob {
  requestId: string;
  funcName: string;
  request: InvokeRequest;
  body: Buffer;
  callbackUrl: string | null;
  /** The fire time this job was made for, when a schedule made it. */
  scheduledAt: number | null;
  /** The traffic tag of `/async/<name>@<tag>`: every try goes to the revision it names. */
  tag?: string | null;
}

/** A stored job. Times are ms since the epoch. */
export interface Job extends NewJob {
  seq: number;
  status: JobStatus;
  /** Tries made in this round (a manual retry starts a new round). */
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  nextAttemptAt: number | null;
  statusCode: number | null;
  response: StoredResponse | null;
  error: string | null;
  history: AttemptEntry[];
  callback: CallbackState | null;
}

/** How one try ended, as the dispatcher stores it. */
export type JobFinish =
  | { kind: 'succeeded'; at: number; statusCode: number; response: StoredResponse; entry: AttemptEntry }
  | { kind: 'retry'; at: number; nextAttemptAt: number; statusCode: number; response: StoredResponse | null; error: string | null; entry: AttemptEntry }
  | { kind: 'dead'; at: number; statusCode: number | null; response: StoredResponse | null; error: string; entry: AttemptEntry | null };

/** `GET /invocations/:id`: a job as users see it (ISO times). */
export interface JobView {
  requestId: string;
  funcName: string;
  status: JobStatus;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  nextAttemptAt: string | null;
  statusCode: number | null;
  response: StoredResponse | null;
  error: string | null;
  /** Every try: when it started and ended, and how. */
  history: Array<{ attempt: number; startedAt: string; finishedAt: string; statusCode: number; error: string | null }>;
  callback: (Omit<CallbackState, 'at'> & { at: string | null }) | null;
  /** The fire time, for a job a schedule made. */
  scheduledAt: string | null;
  /** The traffic tag its tries go to (`/async/<name>@<tag>`), or null. */
  tag: string | null;
  request: { method: string; path: string };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job as the API shows it. */
export function jobView(job: Job): JobView {
  return {
    requestId: job.requestId,
    funcName: job.funcName,
    status: job.status,
    attempts: job.attempts,
    createdAt: new Date(job.createdAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    nextAttemptAt: iso(job.nextAttemptAt),
    statusCode: job.statusCode,
    response: job.response,
    error: job.error,
    history: job.history.map((h) => ({ ...h, startedAt: iso(h.startedAt)!, finishedAt: iso(h.finishedAt)! })),
    callback: job.callback ? { ...job.callback, at: iso(job.callback.at) } : null,
    scheduledAt: iso(job.scheduledAt),
    tag: job.tag ?? null,
    request: { method: job.request.method, path: job.request.path },
  };
}

/** Counts of one function's jobs, for `/metrics`. */
export interface JobCounts {
  funcName: string;
  queued: number;
  running: number;
  dead: number;
  /** Creation time of the oldest queued or running job, or null. */
  oldestOpenAt: number | null;
}
