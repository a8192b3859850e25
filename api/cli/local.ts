/**
 * The commands that act on this machine rather than through a runtime's API: `serve`, and
 * `down` and `gc`, which remove containers with no runtime running.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { collectOrphans, instanceOf, removeInstanceContainers, type RemovedContainer } from '../../controller/index.js';
import { loadConfig, startServer } from '../server.js';

/** `serve [--cleanup-on-exit]`: runs until SIGTERM or SIGINT, then drains and stops. */
export async function serve(args: string[]): Promise<void> {
  const unknown = args.filter((a) => a !== '--cleanup-on-exit');
  if (unknown.length > 0) throw new Error(`serve: unknown argument "${unknown[0]}" (serve takes --cleanup-on-exit; settings are GLAMBDAR_* variables)`);
  const cleanup = args.includes('--cleanup-on-exit') || process.env['GLAMBDAR_CLEANUP_ON_EXIT'] === '1';
  const config = loadConfig();
  const running = await startServer({ config });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.log.info(`${signal}: draining in-flight requests and stopping (${cleanup ? 'then removing its containers' : 'containers stay for the next start'})`);
    void running
      .close()
      .then(async () => {
        if (!cleanup) return;
        const { removed } = await removeInstanceContainers(config.dir);
        running.log.info(`removed ${removed.length} container(s): ${removed.map(describe).join(', ') || 'none'}`);
      })
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`glambdar: stopping failed: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function describe(c: RemovedContainer): string {
  return `${c.name} (${c.stem ? (c.functionName ? `stem cell serving ${c.functionName}` : 'stem cell') : `function ${c.functionName}`})`;
}

function dataDir(): string {
  const dir = process.env['GLAMBDAR_DIR'];
  return dir === undefined || dir === '' ? join(homedir(), '.glambdar') : dir;
}

/**
 * `down`: every container of the runtime of GLAMBDAR_DIR, functions and stem cells, with the
 * runtime stopped (a running one would start them again): a clean stop.
 */
export async function down(base: string): Promise<void> {
  const dir = dataDir();
  const instance = instanceOf(dir);
  if (instance === null) {
    process.stdout.write(`nothing to remove: no runtime data in ${dir} (GLAMBDAR_DIR)\n`);
    return;
  }
  const health = await fetch(`${base}/healthz`).then((res) => (res.ok ? (res.json() as Promise<{ instance?: string }>) : null)).catch(() => null);
  if (health?.instance === instance) {
    throw new Error(`the runtime of ${dir} is running at ${base} (instance ${instance}) and would start its containers again: stop it first (Ctrl-C or SIGTERM), or run it with serve --cleanup-on-exit`);
  }
  const { removed } = await removeInstanceContainers(dir);
  process.stdout.write(removed.length === 0 ? `no containers of instance ${instance} (${dir})\n` : `removed ${removed.length} container(s) of instance ${instance} (${dir}):\n${removed.map((c) => `  ${describe(c)}\n`).join('')}`);
}

/** `gc`: the containers of runtimes whose data folder is gone. */
export async function gc(): Promise<void> {
  const removed = await collectOrphans();
  process.stdout.write(removed.length === 0 ? 'no orphaned containers\n' : `removed ${removed.length} orphaned container(s) (their data folder is gone):\n${removed.map((c) => `  ${describe(c)}\n`).join('')}`);
}
