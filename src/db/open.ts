import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { type EmbeddedPostgres, openEmbeddedPostgres } from './embedded.ts';
import { createPool, type Pool } from './pool.ts';

export interface Database {
  pool: Pool;
  /** Whether the embedded PostgreSQL serves this process. */
  embedded: boolean;
  close(): Promise<void>;
  /**
   * Ends the pool and leaves the embedded PostgreSQL running: the cluster's preparing child hands
   * it over to the primary, which stops it at shutdown (stopEmbeddedPostgres).
   */
  closePool(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or to the embedded PostgreSQL under the data dir (starting it when no
 * other process has). The server passes `adoptEmbedded` so it also stops a cluster left running
 * by a crashed predecessor; the CLI stops only what it started itself.
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  options: { adoptEmbedded?: boolean } = {},
): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await openEmbeddedPostgres({ dataDir: config.dataDir, log, adopt: options.adoptEmbedded });
    url = embedded.url;
  }
  const pool = createPool({
    connectionString: url,
    max: config.databasePoolSize,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    log,
  });
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw new Error(
      `cannot connect to PostgreSQL${config.databaseUrl ? ' at DATABASE_URL' : ''}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    pool,
    embedded: embedded !== undefined,
    async close() {
      await pool.end();
      await embedded?.stop();
    },
    async closePool() {
      await pool.end();
    },
  };
}
