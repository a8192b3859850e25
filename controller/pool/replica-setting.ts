import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/logger.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { FrameBudget } from './frame-budget.js';
import type { Replica } from './replica.js';
import type { StemCells } from './stem-cells.js';
import type { Standbys } from './standbys.js';

/** What the pool needs of the secret store: a function's secrets written as files. */
export interface SecretFiles {
  /** Writes one file per named secret into `dir`, a container's own (new or empty) secrets folder. */
  writeInto(names: readonly string[], dir: string): Promise<void>;
}

/** Where replicas come from: the engine, the folders they mount, how long a start may take. */
export interface ReplicaSetting {
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  functionsDir: string;
  socketsDir: string;
  workerDir: string;
  startTimeoutMs: number;
  /** Generic warm containers a start for waiting requests may specialise instead of starting one. */
  stemCells?: StemCells;
  /** Created, unstarted containers of functions: a labelled start takes its function's when it fits. */
  standbys?: Standbys;
  /** Where what a replica's function prints outside invocations goes. */
  onOutput?: (functionName: string, containerId: string, stream: 'stdout' | 'stderr', text: string) => void;
  /**
   * Where each container's own secrets folder is made (`<secretMountsDir>/<key>`), and what
   * fills it. Without them no container gets a secrets mount, and a function with secrets cannot start.
   */
  secretMountsDir?: string;
  secrets?: SecretFiles;
}

/** What the lifecycle needs: where replicas come from, the frame budget, and the router's hooks. */
export interface ReplicaLifecycleOptions extends ReplicaSetting {
  budget: FrameBudget;
  /** A new replica joins its function's list (the router routes only to listed ones). */
  track(replica: Replica): void;
  /** A removed replica leaves its function's list. */
  untrack(replica: Replica): void;
  /** A replica became ready (or was attached): hand it waiting requests. */
  attached(replica: Replica): void;
  /** A start failed and backs off; the router tells waiters with nothing else to wait for. */
  startFailed(functionName: string, error: Error): void;
  /** A function's actual state changed (a replica died or left on its own). */
  onChange(functionName: string): void;
  /** True once the pool let go of every container (a runtime stop): losses are not reacted to. */
  detached(): boolean;
}
