import type { InvocationSnapshot, JobMetrics, Runtime } from '../controller/index.js';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Starts a metric family: its HELP and TYPE lines. */
function family(out: string[], name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** Prometheus text exposition of what the runtime knows about each function. */
export function renderMetrics(runtime: Runtime): string {
  const snapshot = runtime.metricsSnapshot();
  const functions = snapshot.functions;
  const out: string[] = [];
  const gauge = (name: string, help: string, type: 'gauge' | 'counter', pick: (f: (typeof functions)[number]) => number) => {
    family(out, name, type, help);
    for (const f of functions) out.push(`${name}{function="${escapeLabel(f.name)}"} ${pick(f)}`);
  };
  family(out, 'glambdar_functions', 'gauge', 'Functions deployed.');
  out.push(`glambdar_functions ${functions.length}`);
  family(out, 'glambdar_stem_cells_ready', 'gauge', 'Generic warm containers waiting to be specialised.');
  out.push(`glambdar_stem_cells_ready ${snapshot.stemCellsReady}`);
  family(out, 'glambdar_invocation_records_dropped_total', 'counter', 'Invocation records not written (the data disk under its reserve, or a refused write), since the process started.');
  out.push(`glambdar_invocation_records_dropped_total ${snapshot.recordsDropped}`);
  gauge('glambdar_invocations_total', 'Invocations recorded.', 'counter', (f) => f.invokeCount);
  gauge('glambdar_replicas', 'Containers of the function.', 'gauge', (f) => f.status.replicas);
  gauge('glambdar_ready_replicas', 'Containers ready to serve.', 'gauge', (f) => f.status.readyReplicas);
  gauge('glambdar_busy_replicas', 'Containers with requests in flight.', 'gauge', (f) => f.status.busyReplicas);
  gauge('glambdar_desired_replicas', 'Containers the controller aims for.', 'gauge', (f) => f.status.desiredReplicas);
  gauge('glambdar_generation', 'Spec generation.', 'gauge', (f) => f.generation);
  gauge('glambdar_revision', 'Latest revision: the generation that last changed code or spec.', 'gauge', (f) => f.revision);
  family(out, 'glambdar_traffic_percent', 'gauge', 'Share of the function\'s requests each serving revision gets.');
  for (const f of functions) for (const t of f.traffic) out.push(`glambdar_traffic_percent{function="${escapeLabel(f.name)}",revision="${t.revision}"} ${t.percent}`);
  gauge('glambdar_observed_generation', 'Generation the controller last reconciled.', 'gauge', (f) => f.status.observedGeneration);
  renderInvocations(snapshot.invocations, out);
  renderJobs(snapshot.jobs, Date.now(), out);
  renderProcess(out);
  return out.join('\n') + '\n';
}

/**
 * The runtime process itself, under the names Prometheus client libraries use for them, so
 * stock Node.js dashboards read them: a leak shows in RSS and heap, saturation in CPU.
 * Read at scrape time: nothing runs between scrapes.
 */
function renderProcess(out: string[]): void {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number) => {
    family(out, name, type, help);
    out.push(`${name} ${value}`);
  };
  metric('process_cpu_user_seconds_total', 'counter', 'User CPU time spent by the runtime process, in seconds.', cpu.user / 1e6);
  metric('process_cpu_system_seconds_total', 'counter', 'System CPU time spent by the runtime process, in seconds.', cpu.system / 1e6);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the runtime process, in bytes.', memory.rss);
  metric('process_start_time_seconds', 'gauge', 'When the runtime process started, in seconds since the Unix epoch.', Math.round(Date.now() / 1000 - process.uptime()));
  metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes.', memory.heapUsed);
  metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved, in bytes.', memory.heapTotal);
}

/** Async jobs: what waits and for how long, what runs, what is dead, and how tries ended. */
function renderJobs(jobs: JobMetrics, now: number, out: string[]): void {
  const perFunction = (name: string, help: string, pick: (c: JobMetrics['counts'][number]) => number) => {
    family(out, name, 'gauge', help);
    for (const c of jobs.counts) out.push(`${name}{function="${escapeLabel(c.funcName)}"} ${pick(c)}`);
  };
  perFunction('glambdar_async_queue_depth', 'Async jobs queued (waiting for a first try or a retry).', (c) => c.queued);
  perFunction('glambdar_async_running_jobs', 'Async jobs in a try.', (c) => c.running);
  perFunction('glambdar_async_oldest_job_age_seconds', 'Age of the oldest queued or running async job.', (c) =>
    c.oldestOpenAt === null ? 0 : Math.max(0, (now - c.oldestOpenAt) / 1000),
  );
  perFunction('glambdar_async_dead_jobs', 'Async jobs out of tries (the dead-letter list).', (c) => c.dead);
  family(out, 'glambdar_async_attempts_total', 'counter', 'Tries of async jobs since the process started, by how they ended (succeeded, retried, dead).');
  for (const [name, a] of jobs.attempts) {
    const fn = escapeLabel(name);
    for (const outcome of ['succeeded', 'retried', 'dead'] as const) out.push(`glambdar_async_attempts_total{function="${fn}",outcome="${outcome}"} ${a[outcome]}`);
  }
}

/** Le label of a bucket bound, in the form Prometheus client libraries use for +Inf. */
function formatLe(le: number): string {
  return le === Infinity ? '+Inf' : String(le);
}

/** The invoker's counters since this process started: responses by status, wait-time histogram, cold starts. */
function renderInvocations(series: readonly InvocationSnapshot[], out: string[]): void {
  family(out, 'glambdar_invocation_responses_total', 'counter', 'Invocations by the HTTP status the caller got.');
  // Every series of a function's invocations carries the revision that answered.
  const labels = (s: InvocationSnapshot) => `function="${escapeLabel(s.name)}",revision="${s.revision}"`;
  for (const s of series) {
    for (const r of s.responses) out.push(`glambdar_invocation_responses_total{${labels(s)},code="${r.code}"} ${r.count}`);
  }
  family(out, 'glambdar_invocation_duration_seconds', 'histogram', 'Time callers waited for an invocation, waiting for a container included.');
  for (const s of series) {
    for (const b of s.buckets) out.push(`glambdar_invocation_duration_seconds_bucket{${labels(s)},le="${formatLe(b.le)}"} ${b.count}`);
    out.push(`glambdar_invocation_duration_seconds_sum{${labels(s)}} ${s.sumSeconds}`);
    out.push(`glambdar_invocation_duration_seconds_count{${labels(s)}} ${s.count}`);
  }
  family(out, 'glambdar_cold_starts_total', 'counter', 'Invocations that had to wait for a container to start.');
  for (const s of series) out.push(`glambdar_cold_starts_total{${labels(s)}} ${s.coldStarts}`);
}
