/**
 * The invocation record writer's thread (see ThreadRecordWriter): its own SQLite connection,
 * one transaction per batch, a shared counter bumped after each so the main thread can wait.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
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

/** How much lower than the process this thread runs (nice steps). */
const WRITER_NICE_STEPS = 10;

/**
 * A record can wait; a request cannot. Ten nice steps below the process, the thread's commits
 * give way to the runtime's main thread, the load and the workers where they would compete on
 * a small machine, and it still gets about a tenth of a CPU they keep busy, many times the
 * ~2 us per request it needs. Measured with sequential requests: the runtime's p50 0.01-0.04
 * ms lower (docs/design.md). Linux only (the thread's own id comes from /proc); elsewhere, or
 * if refused, it runs at the process's priority.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, Math.min(19, getPriority(tid) + WRITER_NICE_STEPS));
  } catch {
    // Not Linux, or not allowed: nothing depends on it.
  }
}

lowerPriority();

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
