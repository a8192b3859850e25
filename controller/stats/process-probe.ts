import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** The runtime process over the last second. */
export interface ProcessSample {
  /** CPU time over wall time since the last sample, in percent of one core. */
  cpuPercent: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Share of the last second the event loop was busy (0..1). */
  eventLoopUtilization: number;
}

/** Reads the runtime process; a port so tests can give fixed numbers. */
export interface ProcessProbe {
  sample(): ProcessSample;
}

/** The real process: `process.cpuUsage`, `process.memoryUsage` and the event loop's utilization, each as a difference since the last call. */
export function processProbe(): ProcessProbe {
  let cpu = process.cpuUsage();
  let at = performance.now();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    sample() {
      const now = performance.now();
      const used = process.cpuUsage(cpu);
      const loop = performance.eventLoopUtilization(elu);
      const memory = process.memoryUsage();
      const elapsedMs = Math.max(1, now - at);
      cpu = process.cpuUsage();
      at = now;
      elu = performance.eventLoopUtilization();
      return {
        cpuPercent: Math.round(((used.user + used.system) / 1000 / elapsedMs) * 1000) / 10,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        eventLoopUtilization: Math.round(loop.utilization * 1000) / 1000,
      };
    },
  };
}

/** The runtime process's samples, one slot per second, as the overview shows them. */
export interface ProcessStats {
  time: number[];
  cpuPercent: Array<number | null>;
  rssBytes: Array<number | null>;
  eventLoopUtilization: Array<number | null>;
}

/** A ring of process samples, one per second, stamped like a function's series. */
export class ProcessSeries {
  readonly #size: number;
  readonly #second: Float64Array;
  readonly #cpu: Float32Array;
  readonly #rss: Float64Array;
  readonly #elu: Float32Array;
  latest: ProcessSample = { cpuPercent: 0, rssBytes: 0, heapUsedBytes: 0, eventLoopUtilization: 0 };

  constructor(seconds: number) {
    this.#size = seconds;
    this.#second = new Float64Array(seconds).fill(-1);
    this.#cpu = new Float32Array(seconds);
    this.#rss = new Float64Array(seconds);
    this.#elu = new Float32Array(seconds);
  }

  record(second: number, s: ProcessSample): void {
    const slot = second % this.#size;
    this.#second[slot] = second;
    this.#cpu[slot] = s.cpuPercent;
    this.#rss[slot] = s.rssBytes;
    this.#elu[slot] = s.eventLoopUtilization;
    this.latest = s;
  }

  read(from: number, to: number): ProcessStats {
    const out: ProcessStats = { time: [], cpuPercent: [], rssBytes: [], eventLoopUtilization: [] };
    for (let second = Math.max(from, to - this.#size + 1); second <= to; second++) {
      const slot = second % this.#size;
      const here = this.#second[slot] === second;
      out.time.push(second);
      out.cpuPercent.push(here ? Math.round(this.#cpu[slot]! * 10) / 10 : null);
      out.rssBytes.push(here ? this.#rss[slot]! : null);
      out.eventLoopUtilization.push(here ? Math.round(this.#elu[slot]! * 1000) / 1000 : null);
    }
    return out;
  }
}
