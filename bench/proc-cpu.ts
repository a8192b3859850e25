/**
 * CPU time of processes as the kernel accounts it (`/proc/<pid>/stat`: user + system time of
 * every thread of the process), for the bench's per-request CPU figures. On a shared machine
 * the CPU a server spends per request moves much less than its requests per second, which
 * depend on what else runs on the same cores.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of the times in /proc/<pid>/stat. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of one process (all its threads) in microseconds; NaN once it is gone. */
export function processCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1_000_000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** The direct children of a process (to find the hop floor's worker). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU time of a group of processes, summed. */
export function cpuMicros(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += processCpuMicros(pid);
  return sum;
}

/** User + system CPU time of one thread of a process (its main thread: `tid` = `pid`), in microseconds; NaN once it is gone. */
export function threadCpuMicros(pid: number, tid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}
