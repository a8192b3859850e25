import { z } from 'zod';

/**
 * Validation of the worker frames the runtime receives (the codec itself is worker/framing.ts).
 * A worker runs user code, so what it sends is checked before the runtime trusts it.
 */
const Headers = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

export const HelloFrame = z.object({
  t: z.literal('hello'),
  pid: z.number().int(),
  loadError: z.string().nullable(),
  stem: z.boolean(),
});

export const LoadedFrame = z.object({ t: z.literal('loaded'), id: z.number().int(), loadError: z.string().nullable() });

export const ResultFrame = z.object({
  t: z.literal('result'),
  id: z.number().int(),
  statusCode: z.number().int().min(100).max(599),
  headers: Headers,
  stdout: z.string(),
  stderr: z.string(),
  error: z.string().nullable(),
  durationMs: z.number().min(0),
});

/** Every frame a worker may send. */
export const FromWorkerFrame = z.discriminatedUnion('t', [HelloFrame, ResultFrame, LoadedFrame]);
export type FromWorkerFrame = z.infer<typeof FromWorkerFrame>;
