import type { FunctionInfo, JobView, RevisionInfo } from '../../../controller/index.js';
import { fill, h, table } from './dom.js';
import { ago, clock, conditionBadge } from './format.js';

/** The spec as JSON, and the schedule's times when it has one. */
export function renderSpec(body: HTMLElement, info: FunctionInfo): void {
  const schedule = info.spec.schedule
    ? h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Schedule'),
        h('dd', {}, h('code', {}, info.spec.schedule), ` (${info.spec.timezone})`),
        h('dt', {}, 'Last fired'),
        h('dd', {}, info.status.lastScheduleTime ? `${info.status.lastScheduleTime} (${ago(info.status.lastScheduleTime)})` : 'never'),
        h('dt', {}, 'Next'),
        h('dd', {}, info.status.nextScheduleTime ?? '–'),
      )
    : h('p', { class: 'empty' }, 'No schedule.');
  fill(
    body,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Source'),
      h('dd', {}, info.source === 'manifest' ? `manifest ${info.manifestPath ?? ''}` : 'API'),
      h('dt', {}, 'Code digest'),
      h('dd', {}, h('code', {}, info.codeDigest.slice(0, 20))),
      h('dt', {}, 'Created'),
      h('dd', {}, `${info.createdAt} (${ago(info.createdAt)})`),
      h('dt', {}, 'Invocations'),
      h('dd', {}, `${info.invokeCount}, last ${ago(info.lastInvokedAt)}`),
    ),
    h('h3', {}, 'Schedule'),
    schedule,
    h('h3', {}, 'Spec'),
    h('pre', { class: 'spec', tabindex: 0, 'aria-label': 'Spec as JSON' }, JSON.stringify(info.spec, null, 2)),
  );
}

/** Conditions, then containers (its standby last: created for its next start, not started). */
export function renderStatus(conditions: HTMLElement, containers: HTMLElement, info: FunctionInfo): void {
  const standby = info.status.standby;
  fill(
    conditions,
    table(
      'Conditions',
      ['Type', 'Status', 'Reason', 'Message', 'Since'],
      info.status.conditions.map((c) => [c.type, conditionBadge(c.status), c.reason, h('span', { class: 'condition' }, c.message), ago(c.lastTransitionTime)]),
      'Not reconciled yet.',
    ),
  );
  fill(
    containers,
    table(
      'Containers',
      ['Container', 'State', 'In flight', 'Revision', 'From a stem cell'],
      [
        ...info.status.containers.map((c) => [h('code', {}, c.id.slice(0, 12) || '(starting)'), c.state, String(c.inFlight), `r${c.revision}`, c.fromStemCell ? 'yes' : 'no']),
        ...(standby ? [[h('code', {}, standby.id.slice(0, 12)), 'standby (created, not started)', '0', `r${standby.revision}`, 'no']] : []),
      ],
      'No containers (scaled to zero: one starts on the next request).',
    ),
  );
}

/** The kept revisions with their share of traffic, tags and containers. */
export function renderRevisions(body: HTMLElement, revisions: RevisionInfo[]): void {
  fill(
    body,
    table(
      'Revisions and traffic',
      ['Revision', 'Traffic', 'Tags', 'Ready', 'Digest', 'Made'],
      [...revisions].reverse().map((r) => [
        `r${r.revision}${r.latest ? ' (latest)' : ''}`,
        h('span', { class: 'traffic' }, h('meter', { min: 0, max: 100, value: r.traffic, 'aria-hidden': 'true' }), ` ${r.traffic} %`),
        r.tags.join(', ') || '–',
        `${r.readyReplicas} / ${r.replicas}`,
        h('code', {}, r.digest.slice(0, 12)),
        ago(r.createdAt),
      ]),
    ),
  );
}

/** Recent async jobs, and the dead letters apart. */
export function renderJobs(recent: HTMLElement, dead: HTMLElement, jobs: JobView[], deadJobs: JobView[]): void {
  const row = (j: JobView) => [
    h('code', {}, j.requestId),
    h('span', { class: `badge ${j.status === 'succeeded' ? 'ok' : j.status === 'dead' ? 'bad' : 'idle'}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), j.status),
    String(j.attempts),
    j.statusCode === null ? '–' : String(j.statusCode),
    clock(j.createdAt),
    h('span', { class: 'condition' }, j.error ?? ''),
  ];
  const headers = ['Request id', 'Status', 'Tries', 'Code', 'Queued', 'Error'];
  fill(recent, table('Async jobs', headers, jobs.map(row), 'No async jobs.'));
  fill(dead, table('Dead letters', headers, deadJobs.map(row), 'No dead letters.'));
}
