/**
 * The invocation record writer's thread (see ThreadRecordWriter): its own SQLite connection,
 * one transaction per batch, a shared counter bumped after each so the main thread can wait.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { writePackedBatch, type WriterThreadData, type WriterThreadError, type WriterThreadMessage } from './record-writer.js';
import { SLOTS } from '../state/record-codec.js';
import { SqliteStore } from '../state/sqlite-store.js';

const data = workerData as WriterThreadData;
const state = new Int32Array(data.state);
const port = parentPort!;

/** Moves the slot a waiting sync() watches, so its wait ends now. */
function wake(): void {
  Atomics.add(state, 2, 1);
  Atomics.notify(state, 2);
}

/** Takes no more batches: the main thread writes them itself from now on. */
function giveUp(): void {
  Atomics.store(state, 1, 1);
  wake();
}

// However the thread ends (an uncaught exception included), the main thread must stop waiting.
process.on('exit', giveUp);

let store: SqliteStore;
try {
  store = new SqliteStore(data.dbPath);
} catch (err) {
  // The main thread logs the thread's 'error' event and writes batches itself.
  giveUp();
  throw err;
}

port.on('message', (message: WriterThreadMessage) => {
  if (message === null) {
    store.close();
    giveUp();
    port.close();
    return;
  }
  const records = Math.floor(message.packed.numbers.length / SLOTS);
  try {
    writePackedBatch(store, message);
  } catch (err) {
    port.postMessage({ error: (err as Error).message, records } satisfies WriterThreadError);
  } finally {
    Atomics.add(state, 0, 1);
    wake();
  }
});
