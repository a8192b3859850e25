/**
 * `node dist/bench/autoscale-sim/main.js [--seed N] [--start-ms N] [--idle-timeout-ms N]
 * [--scale-down-delay-ms N] [--max-concurrency N]`: runs every standard trace under both
 * policies and prints a markdown table.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SIM_SPEC, markdownTable, runAll, standardTraces, type SimSpec } from './sim.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    'start-ms': { type: 'string', default: '250' },
    'idle-timeout-ms': { type: 'string' },
    'scale-down-delay-ms': { type: 'string' },
    'max-concurrency': { type: 'string' },
  },
});

function int(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${flag} must be a whole number >= 0, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}

const spec: Partial<SimSpec> = {};
const idle = int('idle-timeout-ms', values['idle-timeout-ms']);
const delay = int('scale-down-delay-ms', values['scale-down-delay-ms']);
const maxConcurrency = int('max-concurrency', values['max-concurrency']);
if (idle !== undefined) spec.idleTimeoutMs = idle;
if (delay !== undefined) spec.scaleDownDelayMs = delay;
if (maxConcurrency !== undefined) spec.maxConcurrency = Math.max(1, maxConcurrency);
const seed = int('seed', values.seed) ?? 1;
const startMs = int('start-ms', values['start-ms']) ?? 250;

const traces = standardTraces();
const results = runAll({ seed, startMs, spec, traces });
const effective = { ...DEFAULT_SIM_SPEC, ...spec };
process.stdout.write(
  `Autoscale simulation: seed ${seed}, container start ${startMs} ms, maxConcurrency ${effective.maxConcurrency}, ` +
    `maxReplicas ${effective.maxReplicas}, scaleDownDelayMs ${effective.scaleDownDelayMs}, idleTimeoutMs ${effective.idleTimeoutMs}\n\n`,
);
process.stdout.write(markdownTable(results));
process.stdout.write('\n' + traces.map((t) => `- **${t.name}**: ${t.description}, ${t.durationMs / 1000} s, mean handler ${t.meanDurationMs} ms`).join('\n') + '\n');
