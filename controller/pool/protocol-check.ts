/**
 * The worker protocol is defined once, as the frame header types of worker/protocol.ts. The
 * zod schemas that validate frames (schemas/protocol.ts) are tied to them here: if a field is
 * added, removed or retyped on one side only, `npm run typecheck` fails on this file.
 */
import type { z } from 'zod';
import type { CancelFrame, ChunkFrame, CreditFrame, EndFrame, HandlerInterface, HeadFrame, HelloFrame, InvokeFrame, LoadedFrame, LoadFrame, MAX_OUTPUT_CHARS, OutputFrame, ResultFrame } from '../../schemas/index.js';
import type {
  CancelHeader,
  ChunkHeader,
  CreditHeader,
  EndHeader,
  HeadHeader,
  HelloHeader,
  InterfaceName,
  InvokeHeader,
  LoadedHeader,
  LoadHeader,
  MAX_OUTPUT_FRAME_CHARS,
  OutputHeader,
  ResultHeader,
} from '../../worker/protocol.js';

/** True when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Same<T extends true> = T;

/** Each frame's schema against its header type; a mismatch is a compile error. */
export type ProtocolIsDefinedOnce = [
  Same<Equal<z.infer<typeof HelloFrame>, HelloHeader>>,
  Same<Equal<z.infer<typeof ResultFrame>, ResultHeader>>,
  Same<Equal<z.infer<typeof LoadedFrame>, LoadedHeader>>,
  Same<Equal<z.infer<typeof InvokeFrame>, InvokeHeader>>,
  Same<Equal<z.infer<typeof LoadFrame>, LoadHeader>>,
  Same<Equal<z.infer<typeof OutputFrame>, OutputHeader>>,
  // The output frame's bound: the worker splits longer text at it, the runtime refuses past it.
  Same<Equal<typeof MAX_OUTPUT_CHARS, typeof MAX_OUTPUT_FRAME_CHARS>>,
  Same<Equal<z.infer<typeof HeadFrame>, HeadHeader>>,
  Same<Equal<z.infer<typeof ChunkFrame>, ChunkHeader>>,
  Same<Equal<z.infer<typeof EndFrame>, EndHeader>>,
  Same<Equal<z.infer<typeof CreditFrame>, CreditHeader>>,
  Same<Equal<z.infer<typeof CancelFrame>, CancelHeader>>,
  // The spec's interfaces are the ones the worker adapts.
  Same<Equal<HandlerInterface, InterfaceName>>,
];
