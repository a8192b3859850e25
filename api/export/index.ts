/**
 * `glambdar export`: a function as Knative or Kubernetes objects that run the image
 * `glambdar image` builds. Each format is a module (knative.ts, kubernetes.ts) mapping one
 * function to objects; this file validates every object against its schema and prints YAML,
 * with what does not carry over as comments on top. Nothing invalid is ever printed.
 */
import { stringify } from 'yaml';
import { ExportInvalid } from '../../controller/index.js';
import { imageReference, type ExportFormat } from '../../schemas/index.js';
import { knativeObjects } from './knative.js';
import { kubernetesObjects } from './kubernetes.js';
import type { ManifestObject } from './manifest-object.js';
import { losesNothing, notCarriedOver } from './not-carried.js';
import type { ExportTarget } from './pod.js';
import { SpecReader } from './spec-reader.js';

export { NOT_CARRIED_OVER, CARRIED_BY_IMAGE } from './not-carried.js';

/**
 * What an export reads of a function: `GET /info/:name`'s FunctionInfo, loosely typed so that
 * spec fields other features add are mapped when present. `revision` (when revisions exist)
 * names the image's revision; until then it is the generation.
 */
export interface ExportSource {
  name: string;
  generation: number;
  revision?: number;
  codeDigest: string;
  spec: Readonly<Record<string, unknown>>;
}

/** The format to write and the registry prefix of the images. */
export interface ExportOptions {
  format: ExportFormat;
  imagePrefix: string;
}

/** One function mapped and validated. */
export interface ExportedFunction {
  name: string;
  revision: number;
  image: string;
  /** The objects as plain JSON, each valid against its schema. */
  objects: unknown[];
  notes: string[];
  /** The spec fields the function has, and those the mapping read: the completeness test compares them. */
  fields: string[];
  fieldsRead: ReadonlySet<string>;
}

interface Mapping {
  /** What the output is for, in its first comment line. */
  title: string;
  /** The schemas the objects are checked against, as an error names them. */
  schemas: string;
  objects(target: ExportTarget): ManifestObject[];
}

/** Every format: one line here and a module beside this file. */
const MAPPINGS: Readonly<Record<ExportFormat, Mapping>> = {
  knative: {
    title: 'Knative: a Service (serving.knative.dev/v1), a NetworkPolicy and, for a schedule, a PingSource (sources.knative.dev/v1)',
    schemas: 'Knative CRD',
    objects: knativeObjects,
  },
  kubernetes: {
    title: 'Kubernetes: a Deployment, a Service, a HorizontalPodAutoscaler, a NetworkPolicy and, for a schedule, a CronJob',
    schemas: 'Kubernetes API',
    objects: kubernetesObjects,
  },
};

/** Maps one function to validated objects; throws ExportInvalid, naming the object, when one breaks its schema. */
export function exportFunction(source: ExportSource, options: ExportOptions): ExportedFunction {
  const revision = source.revision ?? source.generation;
  const image = imageReference(options.imagePrefix, source.name, revision, source.codeDigest);
  const spec = new SpecReader(source.spec);
  const target: ExportTarget = { name: source.name, revision, codeDigest: source.codeDigest, image, spec, notes: [] };
  const mapping = MAPPINGS[options.format];
  const objects = mapping.objects(target).map((object) => {
    try {
      object.validate();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ExportInvalid(`function "${source.name}": the ${object.kind} "${object.metadata?.name ?? ''}" does not validate against the ${mapping.schemas} schema: ${why}`);
    }
    return object.toJSON();
  });
  const fields = spec.fields.filter((field) => !losesNothing(field, source.spec[field]));
  return { name: source.name, revision, image, objects, notes: target.notes, fields, fieldsRead: spec.fieldsRead };
}

/**
 * The YAML of every function given, objects separated by `---`: first comments saying how to
 * apply it and which spec fields do not carry over (and why), then each function's image and
 * notes above its objects. Every function is mapped and validated before anything is written.
 */
export function renderExport(sources: readonly ExportSource[], options: ExportOptions): string {
  const exported = sources.map((source) => exportFunction(source, options));
  const fields = new Set(exported.flatMap((fn) => fn.fields));
  const lines = [
    `# Glambdar export for ${MAPPINGS[options.format].title}.`,
    '# Build and push each image first: glambdar image NAME, then docker push IMAGE; then',
    `#   glambdar export NAME --format ${options.format} | kubectl apply -f -`,
  ];
  const dropped = notCarriedOver(options.format, fields);
  if (dropped.length > 0) {
    lines.push('# Not carried over (docs/kubernetes.md):');
    for (const [field, reason] of dropped) lines.push(`#   ${field}: ${reason}`);
  }
  let text = lines.join('\n') + '\n';
  for (const fn of exported) {
    text += `\n# ${fn.name}: revision ${fn.revision}, image ${fn.image}\n`;
    for (const note of fn.notes) text += `#   ${note}\n`;
    for (const object of fn.objects) text += '---\n' + stringify(object, { lineWidth: 0 });
  }
  return text;
}
