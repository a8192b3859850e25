import type { DesiredState } from '../state/desired-state.js';
import type { WriteOutcome } from '../state/records.js';
import { SecretInUse } from '../support/errors.js';
import type { SecretInfo, Secrets } from './secrets.js';

/** A secret as `GET /secrets` lists it: name, size, times and the functions that name it; never its value. */
export interface SecretListing extends SecretInfo {
  usedBy: string[];
}

/** What a secret write did, and the functions whose containers roll to the new value. */
export interface SecretWrite {
  outcome: WriteOutcome;
  secret: SecretListing;
  rolled: string[];
}

/**
 * The secret verbs of the Runtime: the store's writes, tied to the functions that name a
 * secret (a new value rolls their containers; a secret they name cannot be deleted).
 */
export class SecretAdmin {
  #secrets: Secrets;
  #desired: Pick<DesiredState, 'refreshSecrets' | 'usersOf'>;
  #enqueue: (functionName: string) => void;

  constructor(options: { secrets: Secrets; desired: Pick<DesiredState, 'refreshSecrets' | 'usersOf'>; enqueue: (functionName: string) => void }) {
    this.#secrets = options.secrets;
    this.#desired = options.desired;
    this.#enqueue = options.enqueue;
  }

  /**
   * Creates or replaces a secret. A new value gives every function naming it a new template:
   * new containers take over once ready, the old ones drain.
   */
  put(name: string, value: Buffer): SecretWrite {
    const { outcome, secret } = this.#secrets.put(name, value);
    const rolled = outcome === 'unchanged' ? [] : this.#desired.refreshSecrets(secret.name);
    for (const fn of rolled) this.#enqueue(fn);
    return { outcome, secret: this.#listing(secret), rolled };
  }

  /** One secret, without its value. */
  info(name: string): SecretListing {
    return this.#listing(this.#secrets.info(name));
  }

  /** Every secret, without values. */
  list(): SecretListing[] {
    return this.#secrets.list().map((s) => this.#listing(s));
  }

  /** Deletes a secret no function names (SecretInUse naming them otherwise). */
  delete(name: string): void {
    const { name: secret } = this.#secrets.info(name);
    const users = this.#desired.usersOf(secret);
    if (users.length > 0) throw new SecretInUse(secret, users);
    this.#secrets.delete(secret);
  }

  #listing(secret: SecretInfo): SecretListing {
    return { ...secret, usedBy: this.#desired.usersOf(secret.name) };
  }
}
