import Docker from 'dockerode';
import { SandboxUnavailable } from '../../support/errors.js';
import type { Logger } from '../../support/logger.js';
import { ensureRuntimeImage, NODE_PATH_IN_IMAGE } from './runtime-image.js';
import { RUNTIME_SOCKET_NAME, SOCKET_MOUNT } from '../../../worker/protocol.js';
import { BOOT_CPUS, LABELS, SECRETS_MOUNT, type ContainerInfo, type ContainerSpec, type ExitReason, type HostCapacity, type Sandbox, type SandboxEvent } from '../sandbox.js';

const MIB = 1024 * 1024;
/** CFS scheduling period of function containers, in microseconds. */
const CPU_PERIOD_US = 10_000;
/** Processes one function container may run: node and its threads, with room to spare. */
const PIDS_LIMIT = 64;

/** Options for the Docker adapter. */
export interface DockerSandboxOptions {
  instanceId: string;
  image: string;
  /** The data folder, set as every container's `glambdar.dir` label (for finding orphans). */
  dataDir?: string;
  log: Logger;
  docker?: Docker;
}

/** The CFS quota for `cpus` CPUs; at least 1 ms per period, the kernel's floor. */
function cpuQuota(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

/**
 * The V8 heap flags of a container's node: its whole heap (old generation plus the young one)
 * at 75 % of `memoryMb`, the rest left to node itself. The young generation is sized here, not
 * left to V8: under a cgroup memory limit V8 takes the machine for a small device and caps it
 * at 1 MiB semi-spaces (of 128 MiB), so a worker under load scavenged a third more often and
 * woke its GC threads each time. A 32nd of the memory (4 MiB semi-spaces of 128 MiB, 1 to 16)
 * took the worker's CPU per request down ~0.5 us and throughput ~2-5 % in alternating rounds;
 * 8 MiB was no better. The worker sets both flags back to their defaults once the heap is
 * sized (worker/code-cache.ts), so node's code cache still applies.
 */
export function heapFlags(memoryMb: number): string[] {
  const semiSpaceMb = Math.min(16, Math.max(1, Math.floor(memoryMb / 32)));
  // The young generation's limit is three semi-spaces (two, and as much again for large objects).
  const oldSpaceMb = Math.max(16, Math.floor(memoryMb * 0.75) - 3 * semiSpaceMb);
  return [`--max-old-space-size=${oldSpaceMb}`, `--max-semi-space-size=${semiSpaceMb}`];
}

function unavailable(action: string, cause: unknown): SandboxUnavailable {
  return new SandboxUnavailable(`Docker engine is not reachable or refused to ${action}`, { cause });
}

function toInfo(c: Docker.ContainerInfo): ContainerInfo {
  const labels = c.Labels ?? {};
  return {
    id: c.Id,
    replicaKey: labels[LABELS.replica] ?? '',
    functionName: labels[LABELS.function] ?? '',
    generation: Number(labels[LABELS.generation] ?? 0),
    digest: labels[LABELS.digest] ?? '',
    template: labels[LABELS.template] ?? '',
    stem: labels[LABELS.stem] === '1',
    running: c.State === 'running',
    exited: c.State === 'exited' || c.State === 'dead',
  };
}

/**
 * The dockerode adapter. Every container is hardened the same way (README.md, Isolation) and labelled with this instance's id, and every query filters on that label, so
 * several runtimes can share one engine without touching each other's containers.
 */
export class DockerSandbox implements Sandbox {
  #docker: Docker;
  #instanceId: string;
  #dataDir: string | undefined;
  #configuredImage: string;
  #image: string | null = null;
  #preparing: Promise<string> | null = null;
  #capacity: Promise<HostCapacity | null> | null = null;
  #log: Logger;

  constructor(options: DockerSandboxOptions) {
    this.#docker = options.docker ?? new Docker();
    this.#instanceId = options.instanceId;
    this.#dataDir = options.dataDir;
    this.#configuredImage = options.image;
    this.#log = options.log;
  }

  async prepare(): Promise<void> {
    if (this.#image) return;
    // Concurrent first starts share one image check (and at most one build).
    this.#preparing ??= ensureRuntimeImage(this.#docker, this.#configuredImage, this.#log).finally(() => {
      this.#preparing = null;
    });
    try {
      this.#image = await this.#preparing;
    } catch (err) {
      throw unavailable('provide the runtime image', err);
    }
  }

  async start(spec: ContainerSpec, ready?: Promise<unknown>): Promise<string> {
    const id = await this.create(spec);
    try {
      await ready;
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      throw err;
    }
    await this.startCreated(id);
    return id;
  }

  async create(spec: ContainerSpec): Promise<string> {
    await this.prepare();
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer({
        name: this.#name(spec.stem ? 'stem' : spec.functionName, spec.replicaKey),
        Image: this.#image!,
        Cmd: [NODE_PATH_IN_IMAGE, ...heapFlags(spec.memoryMb), '/worker/main.cjs'],
        User: '65534:65534',
        WorkingDir: '/fn',
        Env: [
          // The function's own variables may override NODE_ENV, as a stem cell's load message does.
          'NODE_ENV=production',
          ...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
          `GLAMBDAR_SOCKET=${SOCKET_MOUNT}/${RUNTIME_SOCKET_NAME}`,
          'GLAMBDAR_FN_DIR=/fn',
          ...(spec.stem ? ['GLAMBDAR_STEM=1'] : []),
          ...(spec.interface ? [`GLAMBDAR_INTERFACE=${spec.interface}`] : []),
          ...(spec.handler ? [`GLAMBDAR_HANDLER=${spec.handler}`] : []),
        ],
        Labels: {
          [LABELS.instance]: this.#instanceId,
          ...(this.#dataDir === undefined ? {} : { [LABELS.dir]: this.#dataDir }),
          [LABELS.function]: spec.functionName,
          [LABELS.generation]: String(spec.generation),
          [LABELS.digest]: spec.digest,
          [LABELS.replica]: spec.replicaKey,
          [LABELS.template]: spec.template,
          ...(spec.stem ? { [LABELS.stem]: '1' } : {}),
        },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=64m,mode=1777' },
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          PidsLimit: PIDS_LIMIT,
          Memory: spec.memoryMb * MIB,
          MemorySwap: spec.memoryMb * MIB,
          // A 10 ms CFS period instead of the default 100 ms: a function that spends its quota
          // is paused for at most a few ms, not tens of ms, which keeps tail latency low.
          CpuPeriod: CPU_PERIOD_US,
          // Boosted for the boot; settle() sets the spec's quota once the worker answers.
          CpuQuota: cpuQuota(Math.max(spec.cpus, BOOT_CPUS)),
          IpcMode: 'private',
          RestartPolicy: { Name: 'no' },
          LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
          // Read-only, all of them: connecting to the runtime's socket needs no write access to its folder.
          Binds: [
            `${spec.codeDir}:/fn:ro`,
            `${spec.workerDir}:/worker:ro`,
            `${spec.socketDir}:${SOCKET_MOUNT}:ro`,
            ...(spec.secretsDir ? [`${spec.secretsDir}:${SECRETS_MOUNT}:ro`] : []),
          ],
        },
      });
    } catch (err) {
      throw unavailable('create a container', err);
    }
    return container.id;
  }

  async startCreated(containerId: string): Promise<void> {
    const container = this.#docker.getContainer(containerId);
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw unavailable('start a container', err);
    }
  }

  async settle(containerId: string, cpus: number): Promise<void> {
    if (cpus >= BOOT_CPUS) return;
    try {
      await this.#docker.getContainer(containerId).update({ CpuQuota: cpuQuota(cpus) });
    } catch (err) {
      throw unavailable('set the CPU limit of a container', err);
    }
  }

  async assign(containerId: string, functionName: string, replicaKey: string): Promise<void> {
    try {
      await this.#docker.getContainer(containerId).rename({ name: this.#name(functionName, replicaKey) });
    } catch (err) {
      throw unavailable('rename a container', err);
    }
  }

  /** `glambdar-<instance>-<function or "stem">-<replica>`: unique, and says whose it is. */
  #name(owner: string, replicaKey: string): string {
    return `glambdar-${this.#instanceId}-${owner}-${replicaKey}`;
  }

  async exitReason(containerId: string, waitMs: number): Promise<ExitReason | null> {
    const container = this.#docker.getContainer(containerId);
    const deadline = Date.now() + waitMs;
    try {
      for (;;) {
        const { State } = await container.inspect();
        if (!State.Running) return { oomKilled: State.OOMKilled, exitCode: State.ExitCode };
        if (Date.now() >= deadline) return null;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } catch {
      return null; // removed meanwhile, or the engine is away: the reason is unknown
    }
  }

  async stop(containerId: string, graceMs: number): Promise<void> {
    try {
      await this.#docker.getContainer(containerId).stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      // 304: stopped already; 404: gone.
      if (status === 304 || status === 404) return;
      throw unavailable('stop a container', err);
    }
  }

  async remove(containerId: string): Promise<void> {
    const container = this.#docker.getContainer(containerId);
    try {
      await container.remove({ force: true });
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) return;
      if (status === 409) {
        // Another removal is in progress: wait for it so callers can rely on "gone".
        await container.wait({ condition: 'removed' }).catch(() => undefined);
        return;
      }
      throw unavailable('remove a container', err);
    }
  }

  async list(functionName?: string): Promise<ContainerInfo[]> {
    const label = [`${LABELS.instance}=${this.#instanceId}`];
    if (functionName) label.push(`${LABELS.function}=${functionName}`);
    try {
      const found = await this.#docker.listContainers({ all: true, filters: { label } });
      return found.map(toInfo);
    } catch (err) {
      throw unavailable('list containers', err);
    }
  }

  watch(onEvent: (event: SandboxEvent) => void): () => void {
    let stopped = false;
    let abort = new AbortController();
    let retry: NodeJS.Timeout | undefined;
    const subscribe = async () => {
      if (stopped) return;
      abort = new AbortController();
      try {
        const stream = (await this.#docker.getEvents({
          filters: {
            type: ['container'],
            event: ['die', 'oom', 'destroy', 'start'],
            label: [`${LABELS.instance}=${this.#instanceId}`],
          },
          abortSignal: abort.signal,
        })) as NodeJS.ReadableStream;
        let pending = '';
        stream.on('data', (chunk: Buffer) => {
          pending += chunk.toString('utf8');
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            if (!line) continue;
            try {
              const e = JSON.parse(line) as { Action?: string; id?: string; Actor?: { Attributes?: Record<string, string> } };
              const action = e.Action as SandboxEvent['action'];
              const functionName = e.Actor?.Attributes?.[LABELS.function];
              if (functionName && e.id) onEvent({ action, containerId: e.id, functionName });
            } catch {
              // a malformed event line is skipped; the periodic resync covers anything missed
            }
          }
        });
        stream.on('error', () => undefined);
        stream.on('close', () => resubscribe());
        stream.on('end', () => resubscribe());
      } catch {
        resubscribe();
      }
    };
    const resubscribe = () => {
      if (stopped || retry) return;
      retry = setTimeout(() => {
        retry = undefined;
        void subscribe();
      }, 1000);
      retry.unref();
    };
    void subscribe();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      abort.abort();
    };
  }

  capacity(): Promise<HostCapacity | null> {
    this.#capacity ??= this.#docker.info().then(
      (info: { NCPU?: unknown; MemTotal?: unknown }) =>
        typeof info.NCPU === 'number' && typeof info.MemTotal === 'number'
          ? { cpus: info.NCPU, memoryMb: Math.floor(info.MemTotal / MIB) }
          : null,
      () => {
        // Unknown while the engine is away: ask again next time.
        this.#capacity = null;
        return null;
      },
    );
    return this.#capacity;
  }

  async ping(): Promise<boolean> {
    try {
      await this.#docker.ping();
      return true;
    } catch {
      return false;
    }
  }
}
