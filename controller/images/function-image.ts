/**
 * `glambdar image`: a function's latest revision as a standard OCI image that runs outside
 * Glambdar (docs/kubernetes.md "The image"). The runtime image, the worker bundle and the
 * function's code, baked in read-only; the worker in its HTTP mode as the entry point. The
 * engine side is a port ({@link ImageBuilder}); Docker's adapter is
 * controller/sandbox/docker/image-builder.ts.
 */
import { join } from 'node:path';
import { imageTag } from '../../schemas/index.js';
import type { InterfaceName } from '../../worker/protocol.js';
import { functionEnv } from '../pool/replica.js';
import type { FunctionInfo } from '../reconcile/status.js';
import type { FunctionRecord } from '../state/records.js';

/** Labels every function image carries: who it is, which revision, which code. */
export const IMAGE_LABELS = {
  function: 'glambdar.function',
  revision: 'glambdar.revision',
  /** The code digest (`GET /info`'s `codeDigest`): the same code gives the same label. */
  digest: 'glambdar.digest',
} as const;

/** The port the worker serves on in an image, unless the platform sets `PORT` (Knative does). */
export const IMAGE_HTTP_PORT = 8080;

/** What an image is built from. */
export interface ImageBuildRequest {
  /** `<prefix>/<name>:<tag>`. */
  reference: string;
  functionName: string;
  revision: number;
  codeDigest: string;
  /** The revision's code folder (read-only here; copied into the image). */
  codeDir: string;
  /** `spec.interface`; null: the worker detects it from the exports, as in Glambdar. */
  interface: InterfaceName | null;
  /** `spec.handler`; null: the default entry. */
  handler: string | null;
  /** `spec.timeoutMs`: past it the worker answers 504, as `/invoke` does. */
  timeoutMs: number;
  /**
   * What the interface's platform sets (a `lambda` function's `AWS_LAMBDA_FUNCTION_*`), baked in
   * as Glambdar sets it for its containers. Not `spec.env`: the exported manifests carry that.
   */
  platformEnv: Record<string, string>;
}

/** An image built. */
export interface BuiltImage {
  reference: string;
  /** The engine's image id (`sha256:...`). */
  id: string;
  labels: Record<string, string>;
}

/** The engine side of `glambdar image`. */
export interface ImageBuilder {
  /** Builds (or finds, for the same inputs) the image; throws ImageBuildFailed or SandboxUnavailable. */
  build(request: ImageBuildRequest): Promise<BuiltImage>;
}

/** What `POST /images/:name` answers. */
export interface ImageResult {
  name: string;
  revision: number;
  codeDigest: string;
  /** The reference built: what `docker push` takes and the export references (for the default tag). */
  image: string;
  imageId: string;
  labels: Record<string, string>;
}

/** The build request of a function's latest revision, named `<prefix>/<name>:<tag>` (tag default: `r<revision>-<digest>`). */
export function imageRequest(info: FunctionInfo, record: FunctionRecord, functionsDir: string, options: { imagePrefix: string; tag?: string | undefined }): ImageBuildRequest {
  const platformEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(functionEnv(record))) if (!Object.hasOwn(record.spec.env, key)) platformEnv[key] = value;
  const tag = options.tag ?? imageTag(info.revision, info.codeDigest);
  return {
    reference: `${options.imagePrefix}/${info.name}:${tag}`,
    functionName: info.name,
    revision: info.revision,
    codeDigest: info.codeDigest,
    // Code versions live at <functionsDir>/<name>/<digest> (code/versions.ts); every kept revision's is kept.
    codeDir: join(functionsDir, info.name, info.codeDigest),
    interface: info.spec.interface ?? null,
    handler: info.spec.handler ?? null,
    timeoutMs: info.spec.timeoutMs,
    platformEnv,
  };
}
