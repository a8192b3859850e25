/**
 * Entry point inside the container (`node /worker/main.cjs`, this file bundled as CommonJS): parse the environment, load the
 * function, listen (on the runtime's socket, or over HTTP in an image's HTTP mode, http-mode.ts);
 * on SIGTERM/SIGINT stop taking work, drain, exit 0. Errors that escape
 * user code (a stray rejection, a throw in a timer) are logged and do not stop the worker,
 * so one bad request cannot fail the others in flight.
 */
// First, before any other module loads node modules (see code-cache.ts).
import './code-cache.js';
import { writeRealStderr, writeStray } from './capture.js';
import { loadConfig, WORKER_ENV_NAMES } from './config.js';
import { startWorker } from './server.js';

// The function's own errors: its container output shows them (GET /logs/:name?container=1).
process.on('unhandledRejection', (reason) => {
  writeStray(`glambdar worker: unhandled rejection: ${describe(reason)}\n`);
});
process.on('uncaughtException', (err) => {
  writeStray(`glambdar worker: uncaught exception: ${describe(err)}\n`);
});

async function main(): Promise<void> {
  try {
    const config = loadConfig();
    for (const name of WORKER_ENV_NAMES) delete process.env[name];
    const { httpPort } = config;
    // The HTTP mode (an image's) loads node:http and node:crypto: only when it runs, since every
    // builtin a cold start loads costs milliseconds (more with the heap flag, under which node's
    // built-in code cache does not apply).
    const worker = httpPort === undefined ? await startWorker(config) : await (await import('./http-mode.js')).startHttpWorker({ ...config, httpPort });
    const stop = (signal: NodeJS.Signals): void => {
      writeRealStderr(`glambdar worker: ${signal}: draining\n`);
      void worker.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (err) {
    writeRealStderr(`glambdar worker: cannot start: ${describe(err)}\n`);
    process.exit(1);
  }
}

// No top-level await: containers run this file bundled as CommonJS (`npm run build`).
void main();

function describe(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
