// A record writer thread for tests: the real one (built by `npm run build`), which dies of an
// uncaught exception right after handling its first batch, with the next ones still queued.
import { parentPort } from 'node:worker_threads';

await import('../../../dist/controller/invocation/record-writer-thread.js');
// Attached after the real thread's listener, so it runs once that one has written the batch.
parentPort.on('message', () => {
  throw new Error('writer thread crashed');
});
