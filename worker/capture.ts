/**
 * Per-invocation capture of stdout and stderr.
 *
 * `process.stdout.write` and `process.stderr.write` are patched once. A write made inside
 * an invocation's async context (tracked with AsyncLocalStorage, so it follows awaits,
 * timers and callbacks) goes to that invocation's buffers instead of the real stream;
 * any other write passes through. `console.*` writes through these methods, so it is
 * captured too. Several invocations may run interleaved; each sees only its own output.
 * Writes outside any invocation (at module load after its capture, in a background timer)
 * go to the real stream and to the sink {@link onStrayOutput} sets, which the worker sends
 * to the runtime.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Appended to the stream whose write crossed the cap. */
export const TRUNCATION_MARKER = '…[truncated]';

/** Outcome of {@link runCaptured}: what `fn` returned or threw, plus its output. */
export type Captured<T> =
  | { ok: true; value: T; stdout: string; stderr: string }
  | { ok: false; error: unknown; stdout: string; stderr: string };

interface Capture {
  stdout: string;
  stderr: string;
  /** Bytes still allowed, shared by both streams. */
  remaining: number;
  truncated: boolean;
  /** False once the invocation settled: stray writes from its timers then pass through. */
  open: boolean;
}

type Write = NodeJS.WriteStream['write'];
type Callback = (err?: Error | null) => void;

const storage = new AsyncLocalStorage<Capture>();
let realStdoutWrite: Write | undefined;
let realStderrWrite: Write | undefined;
let straySink: ((stream: 'stdout' | 'stderr', text: string) => void) | null = null;

/** Where output written outside any invocation goes, besides the real stream (null: nowhere else). */
export function onStrayOutput(sink: ((stream: 'stdout' | 'stderr', text: string) => void) | null): void {
  straySink = sink;
}

/**
 * Runs `fn` with its stdout/stderr captured, capped at `maxLogBytes` bytes for both
 * streams together. Never rejects: a throw (sync or async) is returned as `error`.
 */
export async function runCaptured<T>(
  fn: () => T | Promise<T>,
  maxLogBytes: number,
): Promise<Captured<T>> {
  installCapture();
  const capture: Capture = { stdout: '', stderr: '', remaining: maxLogBytes, truncated: false, open: true };
  try {
    const value = await storage.run(capture, fn);
    return { ok: true, value, stdout: capture.stdout, stderr: capture.stderr };
  } catch (error) {
    return { ok: false, error, stdout: capture.stdout, stderr: capture.stderr };
  } finally {
    capture.open = false;
  }
}

/** Patches the two streams; idempotent. {@link runCaptured} calls it on first use. */
export function installCapture(): void {
  if (realStdoutWrite !== undefined) return;
  realStdoutWrite = process.stdout.write;
  realStderrWrite = process.stderr.write;
  process.stdout.write = patch(realStdoutWrite, 'stdout');
  process.stderr.write = patch(realStderrWrite, 'stderr');
}

/** Writes to the real stderr and to the stray-output sink, whatever the context: for errors that escaped the function. */
export function writeStray(text: string): void {
  writeRealStderr(text);
  straySink?.('stderr', text);
}

/** Writes to the real stdout even inside an invocation: the HTTP mode's per-request log lines. */
export function writeRealStdout(text: string): void {
  (realStdoutWrite ?? process.stdout.write).call(process.stdout, text);
}

/** Writes to the real stderr even inside an invocation: for the worker's own diagnostics. */
export function writeRealStderr(text: string): void {
  (realStderrWrite ?? process.stderr.write).call(process.stderr, text);
}

function patch(real: Write, kind: 'stdout' | 'stderr'): Write {
  return function write(this: NodeJS.WriteStream, ...args: unknown[]): boolean {
    const capture = storage.getStore();
    const [chunk, encoding, callback] = args;
    if (capture === undefined || !capture.open) {
      if (straySink !== null) straySink(kind, textOf(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined));
      return Reflect.apply(real, this, args) as boolean;
    }
    append(capture, kind, chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined);
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (typeof cb === 'function') process.nextTick(cb as Callback);
    return true;
  } as Write;
}

function textOf(chunk: unknown, encoding?: BufferEncoding): string {
  if (typeof chunk === 'string') return encoding !== undefined && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding).toString('utf8') : chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
  return String(chunk);
}

function append(capture: Capture, kind: 'stdout' | 'stderr', chunk: unknown, encoding?: BufferEncoding): void {
  if (capture.truncated) return;
  let bytes: Buffer | undefined;
  let text: string;
  let size: number;
  if (typeof chunk === 'string') {
    if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'utf-8') {
      bytes = Buffer.from(chunk, encoding);
      text = bytes.toString('utf8');
      size = bytes.length;
    } else {
      text = chunk;
      size = Buffer.byteLength(chunk);
    }
  } else if (chunk instanceof Uint8Array) {
    bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    text = bytes.toString('utf8');
    size = bytes.length;
  } else {
    text = String(chunk);
    size = Buffer.byteLength(text);
  }
  if (size > capture.remaining) {
    const all = bytes ?? Buffer.from(text, 'utf8');
    let cut = capture.remaining;
    // Back off to a UTF-8 character boundary (continuation bytes are 10xxxxxx).
    while (cut > 0 && ((all[cut] as number) & 0xc0) === 0x80) cut--;
    text = all.toString('utf8', 0, cut) + TRUNCATION_MARKER;
    capture.truncated = true;
    capture.remaining = 0;
  } else {
    capture.remaining -= size;
  }
  capture[kind] += text;
}
