import pg from 'pg';
import type { Logger } from '../observability/logger.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** What a store needs: something that runs a query. A Pool, or a PoolClient inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

// int8 and numeric as JS numbers: our counters and ids stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export function createPool(options: {
  connectionString: string;
  max: number;
  connectTimeoutMs: number;
  log: Logger;
}): Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'latchkey',
  });
  // An idle client losing its connection (database restart) must not crash the process;
  // the pool discards it and the next query reconnects. Debug only: every idle client reports the
  // same restart, and the server's outage tracker (observability/outage.ts) probes and, only if the
  // database is really gone, warns once for all.
  // Only message and code: pg attaches its client (with every prepared statement) to these errors.
  pool.on('error', (err) =>
    options.log.debug(
      { event: 'db.idle_client_error', error: err.message, code: (err as { code?: string }).code },
      'idle database connection lost',
    ),
  );
  return pool;
}

/**
 * Whether the database answers, asked on a connection of its own: a pooled one may be an idle
 * client whose connection was just dropped and whose error the pool has not seen yet.
 */
export async function probeDatabase(pool: Pool): Promise<void> {
  const client = new pg.Client({ ...pool.options, application_name: 'latchkey' });
  client.on('error', () => undefined); // a failure rejects connect() or query(); a later one is moot
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs fn inside one transaction on one connection; rolls back when fn throws. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
