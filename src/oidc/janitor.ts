import { ADVISORY_LOCKS } from '../db/locks.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../observability/logger.ts';
import { createPayloadStore, REPLAY_GRACE_SECONDS } from './payload-store.ts';

export interface SweepOptions {
  /** Rows per DELETE: small enough that no statement holds locks for long. */
  batchSize: number;
  /** Stop after this many rows in one sweep; the next sweep continues. */
  limit: number;
  /**
   * Keep rows this long past expiry. At least REPLAY_GRACE_SECONDS: for that long a consumed code or
   * refresh token is still found, so a late replay meets it and revokes its grant.
   */
  graceSeconds: number;
}

export const DEFAULT_SWEEP: SweepOptions = { batchSize: 1000, limit: 100_000, graceSeconds: REPLAY_GRACE_SECONDS };

/**
 * Deletes expired rows of oidc_payloads in bounded batches. Safe with several nodes: a node that
 * cannot take the advisory lock skips this round (returns undefined).
 */
export async function sweepExpired(
  pool: Pool,
  log: Logger,
  options: SweepOptions = DEFAULT_SWEEP,
): Promise<number | undefined> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [
      ADVISORY_LOCKS.janitor,
    ]);
    if (!rows[0]?.locked) return undefined;
    try {
      const payloads = createPayloadStore(client);
      let removed = 0;
      while (removed < options.limit) {
        const batch = await payloads.sweepExpired(
          Math.min(options.batchSize, options.limit - removed),
          options.graceSeconds,
        );
        removed += batch;
        if (batch < options.batchSize) break;
      }
      log.info({ event: 'janitor.swept', removed }, 'expired rows removed');
      return removed;
    } finally {
      await client.query('select pg_advisory_unlock($1)', [ADVISORY_LOCKS.janitor]);
    }
  } finally {
    client.release();
  }
}
