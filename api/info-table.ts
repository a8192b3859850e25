import type { Request } from 'express';
import type { FunctionInfo, RevisionInfo, TrafficShare } from '../controller/index.js';

/** Formats an age like kubectl: 45s, 12m, 3h, 5d. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** True when the caller asked for a table: `?format=table`, or plain text before JSON. */
export function wantsTable(req: Request): boolean {
  if (req.query['format'] === 'table') return true;
  const accept = req.get('accept') ?? '';
  return accept.includes('text/plain') && !accept.includes('application/json');
}

/** Aligned columns, as `kubectl get` prints them; the first row is the header. */
function columns(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** A split as one cell: `7:90% 9:10% 6:0%@old` (revision, percent, tags). */
export function formatTraffic(traffic: readonly TrafficShare[]): string {
  return traffic.map((t) => `${t.revision}:${t.percent}%${t.tags.map((tag) => `@${tag}`).join('')}`).join(' ');
}

/** Why a row is not Ready, in one word: a broken manifest first, else the Ready condition's reason. */
function reasonOf(f: FunctionInfo): string {
  if (f.status.phase === 'Ready') return '-';
  const conditions = f.status.conditions;
  const failing = conditions.find((c) => c.type === 'SourceValid' && c.status === 'False') ?? conditions.find((c) => c.type === 'Ready' && c.status !== 'True');
  return failing?.reason ?? '-';
}

/**
 * `GET /info?format=table`. Columns say what they hold: MIN is `minWarm` (containers kept warm
 * with no traffic) beside READY (ready/running now); SOURCE is `api` or the manifest file;
 * REASON says why a row is not Ready.
 */
export function infoTable(functions: readonly FunctionInfo[], now: number): string {
  const rows = [['NAME', 'READY', 'MIN', 'RATE-LIMIT', 'SCHEDULE', 'GENERATION', 'TRAFFIC', 'INTERFACE', 'SOURCE', 'STATUS', 'REASON', 'AGE']];
  for (const f of functions) {
    rows.push([
      f.name,
      `${f.status.readyReplicas}/${f.status.replicas}`,
      String(f.spec.minWarm),
      f.rateLimit === 0 ? 'none' : `${f.rateLimit}/s`,
      f.spec.schedule === null ? '<none>' : f.spec.schedule,
      `${f.status.observedGeneration}/${f.generation}`,
      formatTraffic(f.traffic),
      // Not known until a container loaded the function (when spec.interface is unset).
      f.interface ?? '<unknown>',
      f.source === 'api' ? 'api' : (f.manifestPath ?? 'manifest'),
      f.status.phase,
      reasonOf(f),
      formatAge(now - Date.parse(f.createdAt)),
    ]);
  }
  return columns(rows);
}

/** `GET /revisions/:name?format=table` and `glambdar revisions NAME`: oldest first, the latest marked. */
export function revisionsTable(revisions: readonly RevisionInfo[], now: number): string {
  const rows = [['REVISION', 'DIGEST', 'TRAFFIC', 'TAGS', 'READY', 'AGE']];
  for (const r of revisions) {
    rows.push([
      `${r.revision}${r.latest ? ' (latest)' : ''}`,
      r.digest,
      `${r.traffic}%`,
      r.tags.length > 0 ? r.tags.join(',') : '-',
      `${r.readyReplicas}/${r.replicas}`,
      formatAge(now - Date.parse(r.createdAt)),
    ]);
  }
  return columns(rows);
}
