import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/database.ts';
import { holdLock } from './helpers/held-lock.ts';

const latchkey = runCli;

type Key = { kid: string; alg: string; state: string };

async function listKeys(env: Record<string, string>): Promise<Key[]> {
  const run = await latchkey(['keys', 'list', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Key[];
}

test('retiring the active and the next key of an algorithm at once leaves it one active key', async () => {
  const database = await createTestDatabase();
  const env = {
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'silent',
  };
  const before = await listKeys(env);
  const active = before.find((key) => key.alg === 'ES256' && key.state === 'active')!;
  const next = before.find((key) => key.alg === 'ES256' && key.state === 'next')!;

  // Both commands start and get as far as changing the next key (one to retire it, the other to
  // promote it in place of the active one), then go on together.
  const lock = await holdLock(database.url, 'select 1 from signing_keys where kid = $1 for update', [next.kid]);
  const pending = Promise.all([active, next].map((key) => latchkey(['keys', 'retire', key.kid], env)));
  await lock.waitForWaiters(2);
  await lock.release();
  const runs = await pending;

  // Whichever comes second either retires what the first left active (its next key takes over)
  // or is refused because the key is the only one left able to sign; never both gone.
  assert.ok(
    runs.some((run) => run.code === 0),
    runs.map((run) => run.stderr).join(''),
  );
  for (const run of runs.filter((r) => r.code !== 0)) {
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^latchkey keys: \S+ is the only ES256 key able to sign: run keys rotate instead\n$/);
  }
  // Read from the database itself: every command (`keys list` too) first recreates missing keys.
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ alg: string; active: number }>(
      `select alg, count(*) filter (where state = 'active')::int as active from signing_keys group by alg order by alg`,
    );
    assert.deepEqual(
      rows,
      [
        { alg: 'ES256', active: 1 },
        { alg: 'RS256', active: 1 },
      ],
      'one active key per algorithm, RS256 untouched',
    );
  } finally {
    await db.end();
  }
});
