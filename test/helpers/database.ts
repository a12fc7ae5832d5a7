import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/**
 * A fresh PostgreSQL database per test, dropped when its test file ends, so runs never collide.
 * TEST_DATABASE_URL names the server (default: the machine's PostgreSQL on 127.0.0.1:5432).
 */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  /** Drops it now (a test that wants it gone before the file ends); once dropped, a no-op. */
  drop(): Promise<void>;
}

// Dropped once the file's tests are done, not by the test that made them: a test's hooks run in
// the order they were registered, so a database made first would be dropped under the servers
// (other nodes, spawned processes) its test starts later and closes afterwards.
const undropped = new Set<TestDatabase>();
after(async () => {
  for (const database of undropped) await database.drop();
});

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `latchkey_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database: TestDatabase = {
    url: url.toString(),
    name,
    async drop() {
      if (!undropped.delete(database)) return;
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      try {
        // pg's pool.end() resolves once it has asked its connections to close, not once they have
        // closed; a forced drop at that moment ends one first and its pool throws the error. So the
        // drop waits briefly for them to go, and forces only what was left open.
        for (const deadline = Date.now() + 2000; Date.now() < deadline; await sleep(20)) {
          const { rows } = await client.query<{ n: number }>(
            'select count(*)::int as n from pg_stat_activity where datname = $1',
            [name],
          );
          if (rows[0]!.n === 0) break;
        }
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
  undropped.add(database);
  return database;
}
