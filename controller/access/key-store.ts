/**
 * The controller's port to the keys of private functions. Only a hash of each key is stored;
 * the SQLite adapter (sqlite-key-store.ts) is the only implementation; tests use it on `:memory:`.
 */

/** One stored key of a function. */
export interface StoredKey {
  id: string;
  functionName: string;
  /** sha256 of the whole key, hex. */
  hash: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** Where keys live. Reads happen once at start; the invoke path reads a cache. */
export interface KeyStore {
  all(): StoredKey[];
  insert(key: StoredKey): void;
  /** Returns false when the function had no such key. */
  delete(functionName: string, id: string): boolean;
  /** Every key of a function (its deletion); returns how many went. */
  deleteFunction(functionName: string): number;
  /** Writes last-used times kept in memory since the last call. */
  recordUse(uses: ReadonlyArray<{ id: string; lastUsedAt: number }>): void;
  close(): void;
}
