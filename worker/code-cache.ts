/**
 * Imported first by the worker's entry (main.ts), for what it does on load: it puts V8's
 * `--max-old-space-size` and `--max-semi-space-size` back to their defaults once V8 has sized
 * the heap with them.
 *
 * A container's node runs with those flags (the function's heap, 75 % of `memoryMb`, see
 * heapFlags in controller/sandbox/docker/docker-sandbox.ts), which V8 reads once, when it
 * creates the heap: the limits stay whatever the flags say later. But any
 * V8 flag off its default also changes the hash node's built-in code cache is checked against,
 * so every node module loaded after start (net, stream and their twenty internal modules for
 * the worker alone) would be compiled from source: about 8 ms of each container's boot at its
 * start quota here. With the flag back at its default the hash matches again.
 *
 * Through `process.binding('v8')`, deprecated but kept: `require('node:v8')` loads node:stream
 * itself, before the flag could be reset. Its deprecation warning is not the function's
 * business, so it is silenced for this one call. Where the binding is gone (a future node),
 * nothing changes but the boot time.
 */
type V8Binding = { setFlagsFromString?: (flags: string) => void };

function restoreCodeCache(): void {
  if (!process.execArgv.some((arg) => arg.startsWith('--max-old-space-size') || arg.startsWith('--max-semi-space-size'))) return;
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const binding = (process as unknown as { binding(name: string): V8Binding }).binding('v8');
    binding.setFlagsFromString?.('--max-old-space-size=0');
    binding.setFlagsFromString?.('--max-semi-space-size=0');
  } catch {
    // No binding: the cache stays unused, which is only slower.
  } finally {
    process.noDeprecation = quiet;
  }
}

restoreCodeCache();
