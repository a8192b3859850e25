export { ManifestSource } from './source.js';
export type { ManifestFileState, ManifestSourceOptions, ManifestTarget } from './source.js';
export { formatManifestError, parseManifestFile } from './parse.js';
export type { ManifestError, ManifestFunction, ManifestParseResult } from './parse.js';
