import type { Runtime } from '../controller/index.js';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition of what the runtime knows about each function. */
export function renderMetrics(runtime: Runtime): string {
  const functions = runtime.list();
  const out: string[] = [];
  const gauge = (name: string, help: string, type: 'gauge' | 'counter', pick: (f: (typeof functions)[number]) => number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const f of functions) out.push(`${name}{function="${escapeLabel(f.name)}"} ${pick(f)}`);
  };
  out.push('# HELP glambdar_functions Functions deployed.', '# TYPE glambdar_functions gauge', `glambdar_functions ${functions.length}`);
  out.push(
    '# HELP glambdar_stem_cells_ready Generic warm containers waiting to be specialised.',
    '# TYPE glambdar_stem_cells_ready gauge',
    `glambdar_stem_cells_ready ${runtime.stemCells.readyCount}`,
  );
  gauge('glambdar_invocations_total', 'Invocations recorded.', 'counter', (f) => f.invokeCount);
  gauge('glambdar_replicas', 'Containers of the function.', 'gauge', (f) => f.status.replicas);
  gauge('glambdar_ready_replicas', 'Containers ready to serve.', 'gauge', (f) => f.status.readyReplicas);
  gauge('glambdar_busy_replicas', 'Containers with requests in flight.', 'gauge', (f) => f.status.busyReplicas);
  gauge('glambdar_desired_replicas', 'Containers the controller aims for.', 'gauge', (f) => f.status.desiredReplicas);
  gauge('glambdar_generation', 'Spec generation.', 'gauge', (f) => f.generation);
  gauge('glambdar_observed_generation', 'Generation the controller last reconciled.', 'gauge', (f) => f.status.observedGeneration);
  return out.join('\n') + '\n';
}
