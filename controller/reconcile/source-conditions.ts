import type { Condition } from '../state/records.js';
import { setCondition } from './conditions.js';

/**
 * Whether the manifest file of each manifest-owned function applies, as the GitOps source
 * reports it: a `SourceValid` condition per function, kept in memory (the source reads every
 * file again at start and reports anew). `/info` adds it to the stored conditions; a function
 * whose file is invalid keeps serving its last good version, so it shows `Degraded`.
 */
export class SourceConditions {
  #byName = new Map<string, Condition>();

  /** `problem`: the file's first error, or null when it applies. True when the condition changed. */
  report(name: string, problem: string | null, generation: number, now: number): boolean {
    const previous = this.#byName.get(name);
    const [condition] =
      problem === null
        ? setCondition(previous ? [previous] : [], 'SourceValid', 'True', 'ManifestApplied', 'the manifest file applies', generation, now)
        : setCondition(previous ? [previous] : [], 'SourceValid', 'False', 'ManifestInvalid', problem, generation, now);
    this.#byName.set(name, condition!);
    return previous?.status !== condition!.status || previous.message !== condition!.message;
  }

  /** The function's SourceValid condition, if its source reported one. */
  get(name: string): Condition | undefined {
    return this.#byName.get(name);
  }

  /** Drops a function that is gone, or no longer a manifest's. */
  forget(name: string): void {
    this.#byName.delete(name);
  }
}
