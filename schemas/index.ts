export { FunctionName, FUNCTION_NAME_PATTERN, FUNCTION_NAME_RULE, FunctionSpec, SPEC_DEFAULTS, SpecPatch, CONTAINER_FIELDS, NESTED_SPEC_FIELDS, specPatchFromForm } from './spec.js';
export { CONFIG_ENV, RuntimeConfigSchema, runtimeConfigInput } from './config.js';
export type { RuntimeConfig } from './config.js';
export { CallbackUrl, InvocationsQuery, LogsQuery } from './api.js';
export { FromWorkerFrame, HelloFrame, ResultFrame, LoadedFrame, InvokeFrame, LoadFrame, MAX_RESPONSE_HEADERS } from './protocol.js';
export { describeIssues, parseWith } from './issues.js';
export type { Parsed } from './issues.js';
export { ManifestDocument, MANIFEST_API_VERSION, MANIFEST_KIND, parseManifestDocument } from './manifest.js';
export type { ManifestIssue } from './manifest.js';
