import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { migrate, readMigrations } from '../src/db/migrate.ts';
import { createPool, type Pool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createTestDatabase } from './helpers/database.ts';

const log = createLogger({ level: 'silent' });

/** A pool on a fresh, empty database; more pools on it (other "nodes") with `another()`. */
async function freshDatabase(t: TestContext) {
  const database = await createTestDatabase();
  const pools: Pool[] = [];
  const another = () => {
    const pool = createPool({ connectionString: database.url, max: 2, connectTimeoutMs: 5000, log });
    pools.push(pool);
    return pool;
  };
  t.after(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await database.drop();
  });
  return { pool: another(), another };
}

async function recorded(pool: Pool) {
  const { rows } = await pool.query<{ version: number; n: number }>(
    'select version, count(*)::int as n from schema_migrations group by version order by version',
  );
  return rows;
}

test('a fresh database gets every migration, in order, once', async (t) => {
  const { pool } = await freshDatabase(t);
  const files = await readMigrations();
  assert.ok(files.length > 0);

  const { applied } = await migrate(pool, log);
  assert.deepEqual(
    applied,
    files.map((m) => m.name),
  );
  assert.deepEqual(
    await recorded(pool),
    files.map((m) => ({ version: m.version, n: 1 })),
  );
  const { rows } = await pool.query(
    `select to_regclass('oidc_payloads') is not null as payloads, to_regclass('signing_keys') is not null as keys`,
  );
  assert.deepEqual(rows[0], { payloads: true, keys: true });
});

test('migrating an up-to-date database applies nothing', async (t) => {
  const { pool } = await freshDatabase(t);
  await migrate(pool, log);
  const again = await migrate(pool, log);
  assert.deepEqual(again.applied, []);
  assert.ok((await recorded(pool)).every((row) => row.n === 1));
});

test('two nodes migrating a fresh database at once both succeed and apply each migration once', async (t) => {
  const { pool, another } = await freshDatabase(t);
  const other = another();

  const [first, second] = await Promise.all([migrate(pool, log), migrate(other, log)]);
  const files = await readMigrations();
  assert.deepEqual(
    [...first.applied, ...second.applied].sort(),
    files.map((m) => m.name).sort(),
    'between them, every migration applied exactly once',
  );
  assert.deepEqual(
    await recorded(pool),
    files.map((m) => ({ version: m.version, n: 1 })),
  );
});

test('a database with a migration this build does not know is refused', async (t) => {
  const { pool } = await freshDatabase(t);
  await migrate(pool, log);
  await pool.query(
    `insert into schema_migrations (version, name, checksum) values (9999, '9999_from_the_future', 'x')`,
  );
  await assert.rejects(migrate(pool, log), /9999_from_the_future.*upgrade Latchkey/);
});
