import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import pLimit from 'p-limit';

/**
 * argon2id at OWASP parameters (19 MiB, t=2, p=1 by default). Hashing runs on libuv's thread pool,
 * which DNS, file and crypto work share; a login burst must not starve the token endpoint, so at
 * most one hash per core runs at a time and the rest wait in this queue.
 */
export const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the time of one verification without a real hash: unknown emails cost the same. */
  verifyDummy(password: string): Promise<void>;
  /** True when the hash was made with other settings than the current ARGON2_* (rehash it at the next sign-in). */
  needsRehash(hash: string): boolean;
}

export function createPasswordHasher(options: {
  memoryKib: number;
  iterations: number;
  concurrency?: number;
}): PasswordHasher {
  const params = {
    type: argon2.argon2id,
    memoryCost: options.memoryKib,
    timeCost: options.iterations,
    parallelism: 1,
  } as const;
  // One queue, first come first served: at most this many hashes run, a newcomer waits behind the queue.
  const queued = pLimit(options.concurrency ?? Math.max(1, availableParallelism()));
  let dummyHash: Promise<string> | undefined;
  return {
    hash: (password) => queued(() => argon2.hash(password, params)),
    verify: (hash, password) => queued(() => argon2.verify(hash, password)),
    async verifyDummy(password) {
      dummyHash ??= argon2.hash('latchkey-dummy-password', params);
      const hash = await dummyHash;
      await queued(() => argon2.verify(hash, password));
    },
    needsRehash: (hash) => argon2.needsRehash(hash, params),
  };
}
