import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ADVISORY_LOCKS } from '../src/db/locks.ts';
import { sweepExpired } from '../src/oidc/janitor.ts';
import { createPayloadStore } from '../src/oidc/payload-store.ts';
import { type Latchkey, startLatchkey } from './helpers/latchkey.ts';

/** Rows as the adapter writes them (ids are digests there; any text works for the janitor). */
async function seed(idp: Latchkey) {
  const payloads = createPayloadStore(idp.server.database.pool);
  const row = (id: string, expiresIn: number | null) =>
    payloads.upsert({
      model: 'AccessToken',
      id,
      payload: { kind: 'AccessToken' },
      grantId: null,
      uid: null,
      userCode: null,
      sessionUid: null,
      expiresIn,
    });
  await row('expired-long-ago-1', -3600);
  await row('expired-long-ago-2', -1000);
  // Within the grace period a replayed code or refresh token must still find its consumed row.
  await row('expired-just-now', -10);
  await row('live', 3600);
  await row('no-expiry', null);
}

async function remainingIds(idp: Latchkey): Promise<string[]> {
  const client = new pg.Client({ connectionString: idp.database.url });
  await client.connect();
  try {
    return (await client.query<{ id: string }>('select id from oidc_payloads order by id')).rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}

test('the scheduled janitor deletes rows expired past the grace period and keeps the rest', async (t) => {
  const idp = await startLatchkey(t, { JANITOR_INTERVAL: '1' });
  await seed(idp);

  let removed = 0;
  for (const deadline = Date.now() + 15_000; removed < 2 && Date.now() < deadline; ) {
    await sleep(200);
    const text = await (await fetch(`http://127.0.0.1:${idp.server.metricsPort}/metrics`)).text();
    removed = Number(/^latchkey_janitor_rows_removed_total (\d+)$/m.exec(text)?.[1] ?? 0);
  }
  assert.equal(removed, 2, 'rows removed, as the metric counts them');
  assert.deepEqual(await remainingIds(idp), ['expired-just-now', 'live', 'no-expiry']);
});

test('a node that cannot take the janitor lock skips the round; the next one sweeps', async (t) => {
  const idp = await startLatchkey(t, { JANITOR_INTERVAL: '0' });
  await seed(idp);
  // Another node, mid-sweep.
  const other = new pg.Client({ connectionString: idp.database.url });
  await other.connect();
  try {
    await other.query('select pg_advisory_lock($1)', [ADVISORY_LOCKS.janitor]);
    assert.equal(await sweepExpired(idp.server.database.pool, idp.log), undefined);
    assert.equal((await remainingIds(idp)).length, 5);
  } finally {
    await other.end();
  }
  assert.equal(
    await sweepExpired(idp.server.database.pool, idp.log, { batchSize: 1, limit: 100, graceSeconds: 300 }),
    2,
  );
  assert.deepEqual(await remainingIds(idp), ['expired-just-now', 'live', 'no-expiry']);
});
