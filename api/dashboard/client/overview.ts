import type { FunctionInfo, StatsOverview } from '../../../controller/index.js';
import type { ManifestFileState } from '../../../manifests/index.js';
import { getJson } from './api.js';
import { LiveChart } from './charts.js';
import { fill, h, section, table } from './dom.js';
import { duration, mib, ms, num, percent, phaseBadge, readyCondition } from './format.js';
import { poll, RollingWindow } from './rolling.js';

/** A page of the dashboard: its element and how to stop its polling. */
export interface Page {
  el: HTMLElement;
  stop(): void;
}

type RuntimeKey = 'cpuPercent' | 'rssMiB' | 'eventLoopPercent';

/**
 * The overview: every function with its replicas, traffic, prediction, latency, errors, cold
 * starts, revision and condition; the manifest files; the runtime process. Polled every second
 * (manifests every 5 s).
 */
export function overviewPage(report: (err: unknown) => void): Page {
  const runtimeCard = h('div', { class: 'stat-cards', id: 'runtime-now' });
  const functions = section('Functions', 'functions');
  const manifests = section('Manifest files', 'manifests');
  const processPanel = section('Runtime', 'runtime');
  const window = new RollingWindow<RuntimeKey>(['cpuPercent', 'rssMiB', 'eventLoopPercent']);
  const cpuChart = new LiveChart<RuntimeKey>({
    id: 'runtime-cpu',
    title: 'Runtime CPU and event loop',
    unit: '%',
    lines: [
      { key: 'cpuPercent', label: 'CPU', color: '#1f77b4', format: (v) => `${num(v, 1)} %` },
      { key: 'eventLoopPercent', label: 'event loop busy', color: '#9467bd', dash: [6, 3], format: (v) => `${num(v, 1)} %` },
    ],
  });
  const memChart = new LiveChart<RuntimeKey>({
    id: 'runtime-memory',
    title: 'Runtime memory (RSS)',
    unit: 'MiB',
    lines: [{ key: 'rssMiB', label: 'RSS', color: '#2ca02c', format: (v) => `${num(v, 1)} MiB` }],
  });
  processPanel.body.append(runtimeCard, h('div', { class: 'chart-grid' }, cpuChart.el, memChart.el));
  const el = h('div', { class: 'page' }, h('h1', {}, 'Functions'), functions.el, processPanel.el, manifests.el);

  let tick = 0;
  const poller = poll(
    1000,
    async () => {
      const seconds = window.secondsToAsk(Date.now() / 1000);
      const [info, stats] = await Promise.all([
        getJson<{ functions: FunctionInfo[] }>('/info'),
        getJson<StatsOverview>(`/stats?seconds=${seconds}`),
      ]);
      renderFunctions(functions.body, info.functions, stats);
      const s = stats.runtime.series;
      window.merge({
        time: s.time,
        cpuPercent: s.cpuPercent,
        rssMiB: s.rssBytes.map((b) => (b === null ? null : b / 1048576)),
        eventLoopPercent: s.eventLoopUtilization.map((u) => (u === null ? null : u * 100)),
      });
      const xMin = window.chartStart('cpuPercent', 900);
      cpuChart.update(window, xMin);
      memChart.update(window, xMin);
      const r = stats.runtime;
      fill(
        runtimeCard,
        card('CPU', `${num(r.cpuPercent, 1)} %`),
        card('Memory (RSS)', mib(r.rssBytes)),
        card('JS heap', mib(r.heapUsedBytes)),
        card('Event loop busy', percent(r.eventLoopUtilization)),
        card('Up', duration(r.uptimeSeconds)),
      );
      if (tick++ % 5 === 0) renderManifests(manifests.body, await getJson<ManifestFileState[]>('/manifests'));
    },
    report,
  );
  return {
    el,
    stop() {
      poller.stop();
      cpuChart.destroy();
      memChart.destroy();
    },
  };
}

function card(label: string, value: string): HTMLElement {
  return h('div', { class: 'stat-card' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value));
}

function renderFunctions(body: HTMLElement, list: FunctionInfo[], stats: StatsOverview): void {
  if (list.length === 0) {
    fill(body, h('p', { class: 'empty' }, 'No functions yet. Deploy one: ', h('code', {}, 'glambdar deploy hello.zip'), ', or drop a manifest into the watched folder.'));
    return;
  }
  const byName = new Map(stats.functions.map((f) => [f.name, f]));
  const rows = list.map((fn) => {
    const s = byName.get(fn.name);
    return [
      h('a', { href: `#/functions/${encodeURIComponent(fn.name)}`, class: 'fn-link' }, fn.name),
      phaseBadge(fn.status.phase),
      `${fn.status.readyReplicas} / ${fn.status.desiredReplicas}`,
      num(s?.requestsPerSecond ?? 0),
      num(fn.status.predictedRps),
      ms(s?.p50Ms),
      ms(s?.p99Ms),
      percent(s?.errorRate),
      String(s?.coldStarts ?? 0),
      `r${fn.revision} · gen ${fn.generation}`,
      h('span', { class: 'condition' }, shortCondition(fn)),
    ];
  });
  fill(
    body,
    h('p', { class: 'help' }, 'Requests per second: mean of the last 5 s. Latency, 5xx share and cold starts: the last minute.'),
    table('Functions', ['Function', 'Status', 'Ready / desired', 'Req/s', 'Predicted', 'p50', 'p99', '5xx', 'Cold starts', 'Revision', 'Condition'], rows),
  );
}

/** The Ready condition in a few words: its reason, and its message when it is not True. */
function shortCondition(fn: FunctionInfo): string {
  const ready = fn.status.conditions.find((c) => c.type === 'Ready');
  if (!ready) return 'not reconciled yet';
  return ready.status === 'True' ? ready.reason : readyCondition(fn);
}

function renderManifests(body: HTMLElement, files: ManifestFileState[]): void {
  const stateClass: Record<string, string> = { applied: 'ok', pending: 'idle', conflict: 'warn', invalid: 'bad' };
  fill(
    body,
    table(
      'Manifest files',
      ['File', 'State', 'Functions', 'Applied', 'Errors'],
      files.map((f) => [
        h('code', {}, f.path),
        h('span', { class: `badge ${stateClass[f.state] ?? 'idle'}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), f.state),
        f.functions.join(', ') || '–',
        f.appliedAt ?? '–',
        f.errors.length === 0 ? '–' : h('ul', { class: 'errors' }, ...f.errors.map((e) => h('li', {}, `${e.line ? `line ${e.line}: ` : ''}${e.path ? `${e.path}: ` : ''}${e.message}`))),
      ]),
      'No manifest files in the watched folder.',
    ),
  );
}
