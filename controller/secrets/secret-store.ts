/**
 * The controller's port to stored secrets. The SQLite adapter (sqlite-secret-store.ts) keeps
 * them in the data folder's database, readable by the runtime's user only; tests use it on `:memory:`.
 */

/** A stored secret without its value: what lists, versions and times need. */
export interface SecretRecord {
  name: string;
  size: number;
  /**
   * Random, new with each value: it tells containers' templates that the value changed
   * without being derived from the value (a digest of a short password could be guessed back).
   */
  version: string;
  createdAt: number;
  updatedAt: number;
}

/** Where secret values live. Every write is one transaction. */
export interface SecretStore {
  list(): SecretRecord[];
  /** The value, read when a container's secret files are written (never on the invoke path). */
  value(name: string): Buffer | undefined;
  /** Creates or replaces a secret; `createdAt` is kept on replace. */
  put(name: string, value: Buffer, version: string, now: number): SecretRecord;
  /** Returns false when there was no such secret. */
  delete(name: string): boolean;
  close(): void;
}
