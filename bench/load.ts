/**
 * One load run of the bench: autocannon at 32 connections against a server, with the CPU time
 * its processes spent per request over the run (from /proc), the steadier figure on a shared
 * machine.
 */
import autocannon from 'autocannon';
import { cpuMicros, threadCpuMicros } from './proc-cpu.js';

/** The processes serving one server's requests: the HTTP front and the worker(s) behind it. */
export interface Processes {
  front: number;
  workers: readonly number[];
}

/** Per-request CPU time of a server's processes over one load run, in microseconds. */
export interface CpuPerRequest {
  frontUs: number;
  /** The front's main thread alone (the rest of `frontUs` is its other threads: a writer, V8's helpers). */
  frontMainUs: number;
  workerUs: number;
}

/** `seconds` of load; `headers` go with every request; `processes` are what is measured. */
export async function load(port: number, path: string, seconds: number, headers: Record<string, string> = {}, processes?: Processes): Promise<{ rps: number; p99: number; errors: number; cpu: CpuPerRequest }> {
  const frontBefore = processes ? cpuMicros([processes.front]) : NaN;
  const mainBefore = processes ? threadCpuMicros(processes.front, processes.front) : NaN;
  const workersBefore = processes ? cpuMicros(processes.workers) : NaN;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json', ...headers },
    connections: 32,
    duration: seconds,
  });
  const requests = result.requests.total;
  const cpu = {
    frontUs: processes ? (cpuMicros([processes.front]) - frontBefore) / requests : NaN,
    frontMainUs: processes ? (threadCpuMicros(processes.front, processes.front) - mainBefore) / requests : NaN,
    workerUs: processes ? (cpuMicros(processes.workers) - workersBefore) / requests : NaN,
  };
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx, cpu };
}
