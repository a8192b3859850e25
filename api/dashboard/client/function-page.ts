import type { FunctionInfo, FunctionStats, JobView, RevisionInfo } from '../../../controller/index.js';
import { ApiError, getJson } from './api.js';
import { LiveChart, rangePicker, type ChartSpec } from './charts.js';
import { fill, h, section } from './dom.js';
import { ms, num, phaseBadge, readyCondition } from './format.js';
import { renderJobs, renderRevisions, renderSpec, renderStatus } from './details.js';
import { LogsPanel } from './logs.js';
import type { Page } from './overview.js';
import { poll, RollingWindow } from './rolling.js';

const KEYS = [
  'requests',
  'predictedRps',
  'desiredReplicas',
  'readyReplicas',
  'busyReplicas',
  'panic',
  'p50Ms',
  'p99Ms',
  's2xx',
  's3xx',
  's4xx',
  's5xx',
  'coldStarts',
] as const;
type Key = (typeof KEYS)[number];

const count = (v: number) => num(v, 2);

const CHARTS: ReadonlyArray<ChartSpec<Key>> = [
  {
    id: 'traffic',
    title: 'Requests per second: observed and predicted (EWMA)',
    unit: 'req/s',
    lines: [
      { key: 'requests', label: 'observed', color: '#1f77b4', format: count },
      { key: 'predictedRps', label: 'predicted', color: '#ff7f0e', dash: [6, 3], format: count },
    ],
  },
  {
    id: 'replicas',
    title: 'Replicas (shaded: panic mode)',
    unit: 'replicas',
    lines: [
      { key: 'desiredReplicas', label: 'desired', color: '#7f7f7f', dash: [6, 3], stepped: true },
      { key: 'readyReplicas', label: 'ready', color: '#2ca02c', stepped: true },
      { key: 'busyReplicas', label: 'busy', color: '#d62728', stepped: true },
    ],
    shade: { key: 'panic', label: 'panic' },
  },
  {
    id: 'latency',
    title: 'Latency callers saw (cold starts included)',
    unit: 'ms',
    log: true,
    lines: [
      { key: 'p50Ms', label: 'p50', color: '#1f77b4', format: ms },
      { key: 'p99Ms', label: 'p99', color: '#9467bd', format: ms },
    ],
  },
  {
    id: 'responses',
    title: 'Responses per second by status class',
    unit: 'per s',
    lines: [
      { key: 's2xx', label: '2xx', color: '#2ca02c' },
      { key: 's3xx', label: '3xx', color: '#17becf' },
      { key: 's4xx', label: '4xx', color: '#bcbd22' },
      { key: 's5xx', label: '5xx', color: '#d62728' },
    ],
  },
  {
    id: 'cold-starts',
    title: 'Cold starts per second',
    unit: 'per s',
    lines: [{ key: 'coldStarts', label: 'cold starts', color: '#8c564b', bars: true }],
  },
];

/**
 * A function's page: live charts of its last 15 minutes at 1 s (polled every second: all of
 * it first, then the last few seconds), then its spec and schedule, conditions, containers,
 * revisions and traffic, async jobs and dead letters (every 5 s), and its logs, following live.
 */
export function functionPage(name: string, report: (err: unknown) => void): Page {
  const heading = h('div', { class: 'fn-heading' });
  const charts = CHARTS.map((spec) => new LiveChart<Key>(spec));
  const window = new RollingWindow<Key>(KEYS);
  const spec = section('Spec and schedule', 'spec');
  const conditions = section('Conditions', 'conditions');
  const containers = section('Containers', 'containers');
  const revisions = section('Revisions and traffic', 'revisions');
  const jobs = section('Async jobs', 'jobs');
  const dead = section('Dead letters', 'dead');
  const logs = section('Invocations and logs', 'logs');
  const logsPanel = new LogsPanel(name, report);
  logs.body.append(logsPanel.el);
  let range = 900;
  const draw = () => {
    const xMin = window.chartStart('predictedRps', range);
    for (const c of charts) c.update(window, xMin);
  };
  const picker = rangePicker((seconds) => {
    range = seconds;
    if (window.last !== null) draw();
  });
  const missing = h('p', { class: 'empty', hidden: true }, `There is no function named ${name}. `, h('a', { href: '#/' }, 'Back to the overview'));
  const el = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All functions')),
    heading,
    missing,
    picker,
    h('div', { class: 'chart-grid' }, ...charts.map((c) => c.el)),
    logs.el,
    h('div', { class: 'detail-grid' }, conditions.el, containers.el, revisions.el, spec.el, jobs.el, dead.el),
  );

  let tick = 0;
  const path = encodeURIComponent(name);
  const poller = poll(
    1000,
    async () => {
      const seconds = window.secondsToAsk(Date.now() / 1000);
      let info: FunctionInfo;
      let stats: FunctionStats;
      try {
        [info, stats] = await Promise.all([getJson<FunctionInfo>(`/info/${path}`), getJson<FunctionStats>(`/stats/${path}?seconds=${seconds}`)]);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'FUNCTION_NOT_FOUND') {
          missing.hidden = false;
          return;
        }
        throw err;
      }
      missing.hidden = true;
      window.merge({ ...stats, s2xx: stats.responses['2xx'], s3xx: stats.responses['3xx'], s4xx: stats.responses['4xx'], s5xx: stats.responses['5xx'] });
      draw();
      logsPanel.observeRate(stats.requests[stats.requests.length - 1] ?? 0);
      renderHeading(heading, info);
      renderStatus(conditions.body, containers.body, info);
      if (tick++ % 5 === 0) {
        renderSpec(spec.body, info);
        const [revs, recent, deadJobs] = await Promise.all([
          getJson<RevisionInfo[]>(`/revisions/${path}`),
          getJson<JobView[]>(`/invocations?function=${path}&limit=20`),
          getJson<JobView[]>(`/invocations?function=${path}&status=dead&limit=20`),
        ]);
        renderRevisions(revisions.body, revs);
        renderJobs(jobs.body, dead.body, recent, deadJobs);
      }
    },
    report,
  );
  return {
    el,
    stop() {
      poller.stop();
      logsPanel.stop();
      for (const c of charts) c.destroy();
    },
  };
}

function renderHeading(el: HTMLElement, info: FunctionInfo): void {
  const s = info.status;
  fill(
    el,
    h('h1', {}, info.name, ' ', phaseBadge(s.phase)),
    h(
      'p',
      { class: 'fn-summary' },
      `${s.readyReplicas} of ${s.desiredReplicas} desired replicas ready, ${s.busyReplicas} busy · predicted ${num(s.predictedRps)} req/s · revision ${info.revision}, generation ${info.generation} (observed ${s.observedGeneration}) · `,
      h('span', { class: 'condition' }, readyCondition(info)),
    ),
  );
}
