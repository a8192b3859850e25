/**
 * An object an export prints: a model of kubernetes-models or @kubernetes-models/knative, which
 * validates itself against the schema its package ships (the API's OpenAPI schema, or the
 * CRD's) and serializes to plain JSON.
 */
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { name?: string } | undefined;
  /** Throws when the object breaks its schema. */
  validate(): void;
  toJSON(): unknown;
}
