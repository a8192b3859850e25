import type { FunctionInfo } from '../controller/index.js';

/** Formats an age like kubectl: 45s, 12m, 3h, 5d. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** `GET /info?format=table`: aligned columns, as `kubectl get` prints them. */
export function infoTable(functions: readonly FunctionInfo[], now: number): string {
  const rows = [['NAME', 'READY', 'WARM', 'RATE-LIMIT', 'SCHEDULE', 'GENERATION', 'STATUS', 'AGE']];
  for (const f of functions) {
    rows.push([
      f.name,
      `${f.status.readyReplicas}/${f.status.replicas}`,
      String(f.spec.minWarm),
      f.rateLimit === 0 ? 'none' : `${f.rateLimit}/s`,
      f.spec.schedule === null ? '<none>' : f.spec.schedule,
      `${f.status.observedGeneration}/${f.generation}`,
      f.status.phase,
      formatAge(now - Date.parse(f.createdAt)),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}
