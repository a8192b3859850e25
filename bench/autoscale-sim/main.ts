/**
 * The autoscale simulator's CLI (after `npm run build`):
 *
 *   node dist/bench/autoscale-sim/main.js [--seed N] [--start-ms N] [--scenario NAME]
 *     [--max-concurrency N] [--max-replicas N] [--scale-down-delay-ms N] [--idle-timeout-ms N]
 *
 * Runs every trace under the three policies (reactive, EWMA, hybrid) in each scenario (all by
 * default) and prints a markdown table, the cells `reactive / EWMA / hybrid`; spec flags
 * override the scenarios' specs.
 */
import { parseArgs } from 'node:util';
import { SCENARIOS, markdownTable, runAll } from './report.js';
import { DEFAULT_SIM_SPEC, type SimSpec } from './sim.js';
import { standardTraces } from './traces.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function int(flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min) fail(`--${flag} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      'start-ms': { type: 'string' },
      scenario: { type: 'string' },
      'max-concurrency': { type: 'string' },
      'max-replicas': { type: 'string' },
      'scale-down-delay-ms': { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}

const spec: Partial<SimSpec> = {};
const overrides: Array<[keyof SimSpec, string, number]> = [
  ['maxConcurrency', 'max-concurrency', 1],
  ['maxReplicas', 'max-replicas', 1],
  ['scaleDownDelayMs', 'scale-down-delay-ms', 0],
  ['idleTimeoutMs', 'idle-timeout-ms', 0],
];
for (const [field, flag, min] of overrides) {
  const n = int(flag, values[flag], min);
  if (n !== undefined) spec[field] = n;
}
const seed = int('seed', values.seed, 0) ?? 1;
const startMs = int('start-ms', values['start-ms'], 0) ?? 250;
const scenarios = values.scenario === undefined ? SCENARIOS : SCENARIOS.filter((s) => s.name === values.scenario);
if (scenarios.length === 0) fail(`unknown --scenario "${values.scenario}"; one of: ${SCENARIOS.map((s) => s.name).join(', ')}`);

const traces = standardTraces();
const results = runAll({ seed, startMs, spec, traces, scenarios });
const out: string[] = [
  `Autoscale simulation: seed ${seed}, container start ${startMs} ms, minWarm ${DEFAULT_SIM_SPEC.minWarm}. Cells: reactive / EWMA / hybrid.`,
  '',
];
out.push(markdownTable(results));
out.push('Scenarios:');
for (const s of scenarios) {
  const overridden = Object.keys(spec).length > 0 ? ` (overridden: ${JSON.stringify(spec)})` : '';
  out.push(`- **${s.name}**: ${s.description}${overridden}`);
}
out.push('', 'Traces:');
for (const t of traces) out.push(`- **${t.name}**: ${t.description}; ${t.durationMs / 1000} s`);
process.stdout.write(out.join('\n') + '\n');
