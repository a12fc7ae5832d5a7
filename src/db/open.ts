import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { openEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { createPool, type Pool } from './pool.ts';

export interface Database {
  pool: Pool;
  /** Whether the embedded PostgreSQL serves this process. */
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or to the embedded PostgreSQL under the data dir (starting it when no
 * other process has). The server passes `adoptEmbedded` so it also stops a cluster left running
 * by a crashed predecessor; the CLI stops only what it started itself.
 */
export async function openDatabase(config: Config, log: Logger, options: { adoptEmbedded?: boolean } = {}): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await openEmbeddedPostgres({ dataDir: config.dataDir, log, adopt: options.adoptEmbedded });
    url = embedded.url;
  }
  const pool = createPool({ connectionString: url, max: config.databasePoolSize, connectTimeoutMs: config.databaseConnectTimeoutMs, log });
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw new Error(`cannot connect to PostgreSQL${config.databaseUrl ? ' at DATABASE_URL' : ''}: ${(err as Error).message}`, { cause: err });
  }
  return {
    pool,
    embedded: embedded !== undefined,
    async close() {
      await pool.end();
      await embedded?.stop();
    },
  };
}

/**
 * The key that seals secrets at rest. From LATCHKEY_SECRET_KEY, or (outside production) generated
 * once into the data dir so a local install keeps working across restarts.
 */
export async function resolveSecretKey(config: Config, log: Logger): Promise<string> {
  if (config.secretKey) return config.secretKey;
  const file = path.join(config.dataDir, 'secret-key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable`, { cause: err });
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  const key = randomBytes(32).toString('base64url');
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process generated it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
  log.warn({ event: 'config.secret_key_generated', file }, 'LATCHKEY_SECRET_KEY is unset: generated one into the data dir (set it explicitly in production)');
  return key;
}
