import type { DesiredFunction, FunctionRecord, FunctionStatus, InvocationRecord, LogRecord, Revision, WriteOutcome } from './records.js';

/**
 * The controller's port to persistent state. Spec writes bump `generation`; status writes
 * never do. The SQLite adapter (sqlite-store.ts) is the only implementation; tests use it on `:memory:`.
 */
export interface Store {
  /** An id made once per data folder; it labels this runtime's containers. */
  readonly instanceId: string;
  /**
   * Writes desired state. A change of code or spec (traffic aside) also records a revision
   * numbered by the new generation; revisions past the newest `revisionHistory` go unless the
   * spec's traffic names them.
   */
  apply(desired: DesiredFunction, now: number): { outcome: WriteOutcome; record: FunctionRecord };
  /** The kept revisions of a function, oldest first (from memory; writes refresh it). */
  revisions(name: string): readonly Revision[];
  get(name: string): FunctionRecord | undefined;
  list(): FunctionRecord[];
  /** First step of deletion; returns false if there was no such function. */
  markDeleting(name: string, now: number): boolean;
  /** Last step of deletion: record, status and logs go. */
  purge(name: string): WriteOutcome;
  getStatus(name: string): FunctionStatus | undefined;
  writeStatus(name: string, status: FunctionStatus): WriteOutcome;
  /** Appends invocation records and bumps counters in one transaction. */
  appendInvocations(records: readonly InvocationRecord[]): void;
  /** Keeps only the newest `keep` invocation records of a function; returns how many went. */
  trimLogs(name: string, keep: number): number;
  logs(name: string, options: { limit: number; since?: number }): LogRecord[];
  /** Records after `afterId`, oldest first (for following): the next `limit` of them, none skipped. */
  logsAfter(name: string, options: { afterId: number; limit: number; since?: number }): LogRecord[];
  /** Drops cached records of these functions, after another connection (the record writer) changed them. */
  forget(names: Iterable<string>): void;
  close(): void;
}
