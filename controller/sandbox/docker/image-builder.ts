/**
 * Docker's side of `glambdar image`: `docker build` through the engine, offline. The base is the
 * runtime image (the configured one when present, else the one built from the host's node, as
 * containers use), so nothing is pulled; the build's containers have no network.
 */
import Docker from 'dockerode';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ImageBuildFailed, SandboxUnavailable } from '../../support/errors.js';
import type { Logger } from '../../support/logger.js';
import type { BuiltImage, ImageBuilder, ImageBuildRequest } from '../../images/function-image.js';
import { buildContext, dockerfile } from './build-context.js';
import { ensureRuntimeImage } from './runtime-image.js';

/** Options of {@link DockerImageBuilder}. */
export interface DockerImageBuilderOptions {
  /** The configured runtime image (`GLAMBDAR_IMAGE`). */
  image: string;
  /** The folder holding the worker bundle `main.cjs` (the data folder's copy). */
  workerDir: string;
  log: Logger;
  docker?: Docker;
}

/** One line of `docker build`'s JSON progress. */
interface BuildProgress {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Builds function images with the Docker engine. */
export class DockerImageBuilder implements ImageBuilder {
  #docker: Docker;
  #options: DockerImageBuilderOptions;
  #base: Promise<string> | null = null;

  constructor(options: DockerImageBuilderOptions) {
    this.#docker = options.docker ?? new Docker();
    this.#options = options;
  }

  async build(request: ImageBuildRequest): Promise<BuiltImage> {
    const base = await this.#baseImage();
    let context;
    try {
      context = await buildContext(dockerfile(base, request), join(this.#options.workerDir, 'main.cjs'), request.codeDir);
    } catch (err) {
      // The message names a path inside the code folder only, never the folder itself.
      throw new ImageBuildFailed(`cannot build ${request.reference}: ${(err as Error).message}`, { cause: err });
    }
    let progress: BuildProgress[];
    try {
      // networkmode none: the build's containers get no network (only COPY, ENV and LABEL run anyway).
      const stream = await this.#docker.buildImage(Readable.from(context), { t: request.reference, networkmode: 'none', rm: true, forcerm: true });
      progress = await new Promise<BuildProgress[]>((resolve, reject) =>
        this.#docker.modem.followProgress(stream, (err: Error | null, output: BuildProgress[]) => (err ? reject(err) : resolve(output))),
      );
    } catch (err) {
      // The engine's own words go to the operator's log: they may name host paths.
      this.#options.log.warn(`docker build of ${request.reference}: ${(err as Error).message}`);
      throw new SandboxUnavailable(`the Docker engine is not reachable or refused to build ${request.reference}`, { cause: err });
    }
    const failed = progress.find((line) => line.error !== undefined || line.errorDetail !== undefined);
    if (failed) throw new ImageBuildFailed(`docker build of ${request.reference} failed: ${failed.errorDetail?.message ?? failed.error ?? 'unknown error'}`);
    let inspected: Docker.ImageInspectInfo;
    try {
      inspected = await this.#docker.getImage(request.reference).inspect();
    } catch (err) {
      throw new ImageBuildFailed(`docker build of ${request.reference} left no image: ${(err as Error).message}`, { cause: err });
    }
    this.#options.log.info(`built image ${request.reference} (${inspected.Id}) of function ${request.functionName}, revision ${request.revision}`);
    return { reference: request.reference, id: inspected.Id, labels: inspected.Config.Labels ?? {} };
  }

  /** The runtime image, found or built once (a failure is retried at the next build). */
  async #baseImage(): Promise<string> {
    this.#base ??= ensureRuntimeImage(this.#docker, this.#options.image, this.#options.log);
    try {
      return await this.#base;
    } catch (err) {
      this.#base = null;
      this.#options.log.warn(`runtime image for glambdar image: ${(err as Error).message}`);
      throw new SandboxUnavailable('the runtime image is not available to build from (see the runtime log)', { cause: err });
    }
  }
}
