import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';
import { createTestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/latchkey.ts';

interface Line {
  level: number;
  event?: string;
  [key: string]: unknown;
}

function capturedLogger() {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { log: pino({ level: 'debug', base: undefined }, sink), lines };
}

// idle_session_timeout, PgBouncer or an administrator end idle connections of a database that is up.
test('idle connections terminated while the database is up log no db.unavailable and nothing to recover from', async (t) => {
  const database = await createTestDatabase();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
    METRICS_PORT: 'off',
  });
  const { log, lines } = capturedLogger();
  const server = await startServer(config, log);
  t.after(() => server.close(1000));
  // Several requests at once, so the pool holds several connections that then go idle.
  const statuses = await Promise.all(
    Array.from({ length: 6 }, () =>
      fetch(`${issuer}/readyz`).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    ),
  );
  assert.deepEqual([...new Set(statuses)], [200]);
  const before = lines.length;

  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{
      ended: boolean;
    }>(`select pg_terminate_backend(pid) as ended from pg_stat_activity
      where datname = current_database() and application_name = 'latchkey' and state = 'idle' and pid <> pg_backend_pid()`);
    assert.ok(rows.length > 0 && rows.every((row) => row.ended), 'idle connections were terminated');
  } finally {
    await admin.end();
  }
  for (
    const deadline = Date.now() + 5000;
    !lines.slice(before).some((line) => line.event === 'db.idle_client_error');
    await sleep(50)
  ) {
    assert.ok(Date.now() < deadline, 'the pool noticed the lost connection');
  }
  await sleep(1500); // a probe and, were it an outage, a recovery line

  const after = lines.slice(before);
  const dump = after.map((line) => JSON.stringify(line)).join('\n');
  assert.deepEqual(
    after.filter((line) => line.event === 'db.unavailable' || line.event === 'db.recovered'),
    [],
    dump,
  );
  assert.deepEqual(
    after.filter((line) => line.level >= 40),
    [],
    `no warning:\n${dump}`,
  );
  assert.equal((await fetch(`${issuer}/readyz`)).status, 200, 'and it still serves');
});
