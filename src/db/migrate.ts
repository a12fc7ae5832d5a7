import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../observability/logger.ts';
import { ADVISORY_LOCKS } from './locks.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './pool.ts';

/**
 * A small runner rather than node-pg-migrate: our migrations are plain SQL, forward-only, and we
 * need exactly three guarantees that fit in this file: order, once, and no race between nodes.
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(dir, file), 'utf8');
      return {
        version: Number.parseInt(file.slice(0, 4), 10),
        name: file.replace(/\.sql$/, ''),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/**
 * Applies pending migrations in order, in one transaction (a failing one leaves the database as it
 * was), under a transaction-level advisory lock so nodes starting together apply each exactly once.
 * Refuses a database that has a migration this build does not know (a newer release ran).
 */
export async function migrate(pool: Pool, log: Logger, dir = MIGRATIONS_DIR): Promise<{ applied: string[] }> {
  const migrations = await readMigrations(dir);
  const applied: string[] = [];
  await withTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.migrations]);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key, name text not null, checksum text not null,
      applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      'select version, name, checksum from schema_migrations order by version',
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of rows) {
      const mine = known.get(row.version);
      if (!mine)
        throw new Error(`database has migration ${row.name}, which this build does not know: upgrade Latchkey`);
      if (mine.checksum !== row.checksum)
        log.warn({ event: 'migrate.changed', migration: row.name }, 'an applied migration file was edited');
    }
    const done = new Set(rows.map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        await client.query(migration.sql);
      } catch (err) {
        throw new Error(`migration ${migration.name} failed`, { cause: err });
      }
      await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      applied.push(migration.name);
      log.info({ event: 'migrate.applied', migration: migration.name }, 'migration applied');
    }
  });
  return { applied };
}
