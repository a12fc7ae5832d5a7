/**
 * Every PostgreSQL advisory lock Latchkey takes, in one table so no two uses share an id by
 * accident. Any constants work; they only have to be the same on every node. Passed to
 * pg_advisory_*lock as text (a bigint).
 */
export const ADVISORY_LOCKS = {
  /** Migrations: nodes starting together apply each one exactly once ('latchkey' in ASCII). */
  migrations: 0x6c617463686b6579n.toString(),
  /** Signing and cookie keys: creation, rotation and retirement, one node at a time. */
  keys: '7015401542',
  /** The janitor's sweep of expired rows: one node per round. */
  janitor: '7015401543',
} as const;
