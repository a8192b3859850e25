export { FunctionName, FUNCTION_NAME_PATTERN, FUNCTION_NAME_RULE, FunctionSpec, SPEC_DEFAULTS, SpecPatch, CONTAINER_FIELDS, FUNCTION_WIDE_FIELDS, NESTED_SPEC_FIELDS, specPatchFromForm, HANDLER_INTERFACES, HandlerInterface, HandlerPath } from './spec.js';
export { Traffic, TrafficEntry, TRAFFIC_TAG_PATTERN } from './traffic.js';
export { SecretName, AUTH_MODES } from './spec.js';
export { CONFIG_ENV, RuntimeConfigSchema, runtimeConfigInput } from './config.js';
export { isLoopbackHost, SECRET_CONFIG_FIELDS } from './config.js';
export type { RuntimeConfig } from './config.js';
export { CallbackUrl, InfoQuery, InvocationsQuery, LogsQuery, RollbackBody, ExportQuery, EXPORT_FORMATS, StatsQuery } from './api.js';
export type { ExportFormat } from './api.js';
export { DEFAULT_IMAGE_PREFIX, ImageBuildBody, ImagePrefix, ImageTag, imageReference, imageTag } from './image.js';
export {
  FromWorkerFrame,
  HelloFrame,
  ResultFrame,
  LoadedFrame,
  InvokeFrame,
  LoadFrame,
  HeadFrame,
  ChunkFrame,
  EndFrame,
  CreditFrame,
  CancelFrame,
  OutputFrame,
  MAX_OUTPUT_CHARS,
  MAX_RESPONSE_HEADERS,
  resultFrameIssue,
  chunkFrameIssue,
} from './protocol.js';
export { describeIssues, parseWith } from './issues.js';
export type { Parsed } from './issues.js';
export { ADOPT_ANNOTATION, ManifestDocument, MANIFEST_API_VERSION, MANIFEST_KIND, parseManifestDocument } from './manifest.js';
export type { ManifestIssue } from './manifest.js';
