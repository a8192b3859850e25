import type { FunctionSpec } from '../../schemas/index.js';
import { InvalidInput } from '../support/errors.js';
import type { HostCapacity, Sandbox } from './sandbox.js';

/** Refuses specs the engine's host can never run, once the engine has said how big it is. */
export class HostFit {
  #capacity: HostCapacity | null = null;

  /** Asks the engine its size (once); until it answers, every spec fits. */
  learn(sandbox: Sandbox): void {
    void sandbox.capacity().then((capacity) => (this.#capacity = capacity));
  }

  /** Throws InvalidInput for more CPUs than the host has, or more memory at maxReplicas. */
  check(spec: FunctionSpec): void {
    const host = this.#capacity;
    if (!host) return;
    if (spec.cpus > host.cpus) {
      throw new InvalidInput(`invalid spec: cpus: ${spec.cpus} is more than the ${host.cpus} CPUs of the container engine's host`);
    }
    const total = spec.memoryMb * spec.maxReplicas;
    if (total > host.memoryMb) {
      throw new InvalidInput(
        `invalid spec: memoryMb x maxReplicas (${spec.memoryMb} x ${spec.maxReplicas} = ${total} MiB) is more than the ${host.memoryMb} MiB of the container engine's host; lower memoryMb or maxReplicas`,
      );
    }
  }
}
