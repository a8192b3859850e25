/**
 * What the CLI prints for people: `info NAME` as `kubectl describe` would, log records as
 * lines (time, status, duration, request id, then the output), container output as lines;
 * and the machine forms `-o json|yaml`. The JSON the server sends is the input of each.
 */
import { stringify } from 'yaml';
import type { ContainerOutputEntry, FunctionInfo, LogRecord } from '../../controller/index.js';
import { formatAge, formatTraffic } from '../info-table.js';

/** `-o`: how a command prints; `wide` is the table with more columns. */
export type OutputFormat = 'human' | 'json' | 'yaml' | 'wide';

/** `-o json|yaml|wide` (also `-ojson`, `--output=json`), taken out of the arguments. */
export function outputFormat(args: string[]): { format: OutputFormat; rest: string[] } {
  const rest: string[] = [];
  let format: OutputFormat = 'human';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let value: string | undefined;
    if (arg === '-o' || arg === '--output') value = args[++i];
    else if (arg.startsWith('--output=')) value = arg.slice('--output='.length);
    else if (arg.startsWith('-o') && arg.length > 2) value = arg.slice(2);
    else {
      rest.push(arg);
      continue;
    }
    if (value !== 'json' && value !== 'yaml' && value !== 'wide') throw new Error(`-o takes json, yaml or wide, not ${JSON.stringify(value ?? '')}`);
    format = value;
  }
  return { format, rest };
}

/** A value as JSON or YAML text. */
export function machine(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

/** Aligned columns; the first row is the header. */
function columns(rows: readonly string[][], indent = ''): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => indent + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** `glambdar info -o wide`: the table with the container-level spec and the prediction. */
export function wideTable(functions: readonly FunctionInfo[], now: number): string {
  const rows = [['NAME', 'READY', 'MIN', 'MAX', 'CONCURRENCY', 'MEMORY', 'CPUS', 'RATE-LIMIT', 'PREDICTED-RPS', 'GENERATION', 'REVISION', 'DIGEST', 'SOURCE', 'STATUS', 'AGE']];
  for (const f of functions) {
    rows.push([
      f.name,
      `${f.status.readyReplicas}/${f.status.replicas}`,
      String(f.spec.minWarm),
      String(f.spec.maxReplicas),
      String(f.spec.maxConcurrency),
      `${f.spec.memoryMb}Mi`,
      String(f.spec.cpus),
      f.rateLimit === 0 ? 'none' : `${f.rateLimit}/s`,
      String(f.status.predictedRps),
      `${f.status.observedGeneration}/${f.generation}`,
      String(f.revision),
      f.codeDigest,
      f.source === 'api' ? 'api' : (f.manifestPath ?? 'manifest'),
      f.status.phase,
      formatAge(now - Date.parse(f.createdAt)),
    ]);
  }
  return columns(rows);
}

/** `glambdar info NAME`: one function, field by field, as `kubectl describe` shows an object. */
export function describeFunction(f: FunctionInfo, now: number): string {
  const when = (iso: string | null) => (iso === null ? '<never>' : `${iso} (${formatAge(now - Date.parse(iso))} ago)`);
  const s = f.spec;
  const env = Object.keys(s.env);
  const lines: Array<[string, string]> = [
    ['Name', f.name],
    ['Source', f.source === 'api' ? 'api' : `manifest ${f.manifestPath ?? ''}`.trim()],
    ['Status', f.status.phase],
    ['Generation', `${f.generation} (observed ${f.status.observedGeneration})`],
    ['Revision', `${f.revision} (code ${f.codeDigest})`],
    ['Traffic', formatTraffic(f.traffic)],
    ['Created', when(f.createdAt)],
    ['Last invoked', when(f.lastInvokedAt)],
    ['Invocations', String(f.invokeCount)],
    ['Containers', `${f.status.readyReplicas} ready of ${f.status.replicas} (desired ${f.status.desiredReplicas}; predicted ${f.status.predictedRps} req/s)`],
    ['Scaling', `minWarm ${s.minWarm}, maxReplicas ${s.maxReplicas}, maxConcurrency ${s.maxConcurrency}, scaleDownDelayMs ${s.scaleDownDelayMs}, idleTimeoutMs ${s.idleTimeoutMs}`],
    ['Limits', `rateLimit ${s.rateLimit === 0 ? 'none' : `${s.rateLimit}/s`}, timeoutMs ${s.timeoutMs}, memoryMb ${s.memoryMb}, cpus ${s.cpus}`],
    ['Env', env.length === 0 ? '<none>' : env.sort().join(', ')],
  ];
  if (s.schedule !== null) lines.push(['Schedule', `${s.schedule} (${s.timezone}); next ${f.status.nextScheduleTime ?? '<none>'}`]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  let out = lines.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n') + '\n';
  out += 'Conditions:\n';
  out += f.status.conditions.length === 0 ? '  <none>\n' : columns([['TYPE', 'STATUS', 'REASON', 'MESSAGE'], ...f.status.conditions.map((c) => [c.type, c.status, c.reason, c.message])], '  ');
  out += 'Containers:\n';
  out +=
    f.status.containers.length === 0
      ? '  <none>\n'
      : columns([['ID', 'STATE', 'IN-FLIGHT', 'REVISION', 'FROM-STEM-CELL'], ...f.status.containers.map((c) => [c.id.slice(0, 12) || '<starting>', c.state, String(c.inFlight), String(c.revision), c.fromStemCell ? 'yes' : 'no'])], '  ');
  const standby = f.status.standby;
  out += `Standby:\n  ${standby === null ? '<none>' : `${standby.id.slice(0, 12)} (revision ${standby.revision}, created, not started)`}\n`;
  return out;
}

/** One log record: a line of what happened, then its output (and error) indented below. */
export function logRecordLines(r: LogRecord): string {
  const took = r.durationMs < 10 ? r.durationMs.toFixed(2) : r.durationMs.toFixed(0);
  let out = `${r.invokedAt}  ${r.statusCode}  ${took} ms  ${r.requestId}${r.coldStart ? '  cold' : ''}${r.revision === null ? '' : `  r${r.revision}`}\n`;
  const block = (label: string, text: string) => {
    if (text === '') return;
    const body = text.endsWith('\n') ? text.slice(0, -1) : text;
    out += body.split('\n').map((line) => `    ${label} ${line}`).join('\n') + '\n';
  };
  block('|', r.stdout);
  block('!', r.stderr);
  if (r.error !== null) out += `    error: ${r.error}\n`;
  return out;
}

/** One piece of container output: time, container, stream, then the text's lines. */
export function containerOutputLines(e: ContainerOutputEntry): string {
  const body = e.text.endsWith('\n') ? e.text.slice(0, -1) : e.text;
  return body
    .split('\n')
    .map((line) => `${e.time}  ${e.container.slice(0, 12) || '<unknown>'}  ${e.stream === 'stderr' ? '!' : '|'} ${line}`)
    .join('\n') + '\n';
}
