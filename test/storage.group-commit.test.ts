import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { createStatementBatch } from '../src/db/statement-batch.ts';
import { createPayloadStore, type UpsertRow } from '../src/oidc/payload-store.ts';
import { countedPool, startLatchkey } from './helpers/latchkey.ts';

/**
 * Saves and consumes that arrive at the same moment go to PostgreSQL as one statement and one
 * commit (db/statement-batch.ts): each caller is answered once that commit is done, a code is still
 * consumed once however the simultaneous attempts are grouped, and a row PostgreSQL refuses fails
 * only its own save. One statement of a kind is in flight at a time: what arrives meanwhile goes in
 * the next one.
 */

/** A statement batch whose statements the test answers itself, one at a time. */
function controlledBatch() {
  const statements: Array<{ items: string[]; answer(err?: Error): void }> = [];
  const batch = createStatementBatch<string, string>({
    maxItems: 64,
    run: (items) =>
      new Promise((resolve, reject) => {
        statements.push({ items, answer: (err) => (err ? reject(err) : resolve(items.map((item) => `${item} done`))) });
      }),
  });
  /** The items of each statement sent so far, in order. */
  const sent = () => statements.map((statement) => statement.items);
  return { batch, statements, sent };
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
/** What pg rejects with when PostgreSQL does not accept connections. */
const connectionRefused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

const token = (id: string, payload: Record<string, unknown> = { kind: 'AccessToken' }): UpsertRow => ({
  model: 'AccessToken',
  id,
  payload,
  grantId: null,
  uid: null,
  userCode: null,
  sessionUid: null,
  expiresIn: 3600,
});

async function storedIds(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(`select id from oidc_payloads where model = 'AccessToken'`);
    return rows.map((row) => row.id).sort();
  } finally {
    await client.end();
  }
}

test('tokens saved at the same moment share one statement, and every one is stored before its save resolves', async (t) => {
  const idp = await startLatchkey(t);
  const { pool, statements } = countedPool(t, idp.database.url);
  const payloads = createPayloadStore(pool);
  const ids = Array.from({ length: 20 }, (_, i) => `token-${String(i).padStart(2, '0')}`);

  await Promise.all(ids.map((id) => payloads.upsert(token(id))));

  assert.deepEqual(statements, ['oidc_payloads.upsert_many']);
  assert.deepEqual(await storedIds(idp.database.url), ids);
});

test('a code presented many times at once is consumed once, whether the attempts share a batch or race from two nodes', async (t) => {
  const idp = await startLatchkey(t);
  const nodes = [
    createPayloadStore(countedPool(t, idp.database.url).pool),
    createPayloadStore(countedPool(t, idp.database.url).pool),
  ];
  for (let round = 0; round < 5; round += 1) {
    const code = randomBytes(16).toString('hex');
    await nodes[0]!.upsert({ ...token(code), model: 'AuthorizationCode' });
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => nodes[i % 2]!.consume('AuthorizationCode', code)),
    );
    assert.equal(attempts.filter(Boolean).length, 1, `round ${round}: ${attempts.join(', ')}`);
  }
});

test('a save waiting on a row lock held elsewhere does not hold back the saves after it', async (t) => {
  const idp = await startLatchkey(t);
  const payloads = createPayloadStore(countedPool(t, idp.database.url).pool);
  await payloads.upsert(token('locked'));
  // An operator's open transaction holds the row.
  const holder = new pg.Client({ connectionString: idp.database.url });
  await holder.connect();
  t.after(() => holder.end());
  await holder.query('begin');
  await holder.query(`select 1 from oidc_payloads where model = 'AccessToken' and id = 'locked' for update`);

  const blocked = payloads.upsert(token('locked', { kind: 'AccessToken', saved: 'again' }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const other = payloads.upsert(token('other'));
  const outcome = await Promise.race([
    other.then(() => 'saved'),
    new Promise((resolve) => setTimeout(resolve, 3000, 'still waiting')),
  ]);
  await holder.query('commit');
  await blocked;

  assert.equal(outcome, 'saved');
  assert.deepEqual(await storedIds(idp.database.url), ['locked', 'other']);
  const { rows } = await holder.query<{ saved: string }>(
    `select payload->>'saved' as saved from oidc_payloads where model = 'AccessToken' and id = 'locked'`,
  );
  assert.equal(rows[0]?.saved, 'again', 'the blocked save is written once the lock is released');
});

test('a row PostgreSQL refuses fails only its own save, not those it was grouped with', async (t) => {
  const idp = await startLatchkey(t);
  const payloads = createPayloadStore(countedPool(t, idp.database.url).pool);

  // jsonb cannot hold a NUL character: PostgreSQL refuses the whole statement that carries it.
  const outcomes = await Promise.allSettled([
    payloads.upsert(token('fine-1')),
    payloads.upsert(token('refused', { kind: 'AccessToken', nonce: 'a\u0000b' })),
    payloads.upsert(token('fine-2')),
  ]);

  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.deepEqual(await storedIds(idp.database.url), ['fine-1', 'fine-2']);
});

test('refresh tokens saved together extend each of their grants to its latest token, in one statement', async (t) => {
  const idp = await startLatchkey(t);
  const { pool, statements } = countedPool(t, idp.database.url);
  const payloads = createPayloadStore(pool);
  const grant = (id: string) => ({ ...token(id, { exp: 0 }), model: 'Grant', expiresIn: 60 });
  await Promise.all([payloads.upsert(grant('grant-a')), payloads.upsert(grant('grant-b'))]);
  const refreshToken = (id: string, grantId: string, expiresIn: number) => ({
    ...token(id),
    model: 'RefreshToken',
    grantId,
    expiresIn,
  });

  statements.length = 0;
  await Promise.all([
    payloads.upsert(refreshToken('rt-a1', 'grant-a', 3600)),
    payloads.upsert(refreshToken('rt-a2', 'grant-a', 7200)),
    payloads.upsert(refreshToken('rt-b1', 'grant-b', 1800)),
  ]);

  assert.deepEqual(statements, ['oidc_payloads.upsert_refresh_tokens_many']);
  const { rows } = await pool.query<{ id: string; seconds: number; exp_matches: boolean }>(
    `select id, round(extract(epoch from expires_at - now()))::int as seconds,
       (payload->>'exp')::bigint = ceil(extract(epoch from expires_at))::bigint as exp_matches
     from oidc_payloads where model = 'Grant' order by id`,
  );
  assert.deepEqual(
    rows.map((row) => [row.id, Math.round(row.seconds / 100) * 100, row.exp_matches]),
    [
      ['grant-a', 7200, true],
      ['grant-b', 1800, true],
    ],
  );
});

test('what arrives while a statement is in flight waits for it, then goes out together in the next one', async () => {
  const { batch, statements, sent } = controlledBatch();
  const first = batch('a');
  await nextTurn();
  assert.deepEqual(sent(), [['a']], 'idle, an item goes out in the turn it arrived in');

  const later = [batch('b')];
  await nextTurn();
  later.push(batch('c'));
  await nextTurn();
  later.push(batch('d'));
  await nextTurn();
  assert.equal(statements.length, 1, 'nothing more is sent while the first statement runs');

  statements[0]!.answer();
  assert.equal(await first, 'a done');
  // The next statement goes out in the turn after the first one's answer has been handed out.
  await nextTurn();
  await nextTurn();
  assert.deepEqual(sent(), [['a'], ['b', 'c', 'd']]);
  statements[1]!.answer();
  assert.deepEqual(await Promise.all(later), ['b done', 'c done', 'd done']);
});

test('an unreachable database fails the statement in flight and what waited behind it, without trying again', async () => {
  const { batch, statements } = controlledBatch();
  const first = batch('a');
  await nextTurn();
  const waiting = batch('b');
  await nextTurn();

  const refused = connectionRefused();
  statements[0]!.answer(refused);
  await assert.rejects(first, refused);
  await assert.rejects(waiting, refused);
  await nextTurn();
  assert.equal(statements.length, 1, 'no second connection attempt for the item that waited');

  // Once the database is back, the next item goes out at once.
  const after = batch('c');
  await nextTurn();
  assert.equal(statements.length, 2);
  statements[1]!.answer();
  assert.equal(await after, 'c done');
});

test('the retries of a refused batch keep its turn, and an outage one of them meets fails only that item', async () => {
  const { batch, statements, sent } = controlledBatch();
  const grouped = [batch('a'), batch('b')];
  await nextTurn();
  const waiting = batch('c');
  await nextTurn();

  // PostgreSQL refuses the pair: each item is tried again alone, before what waited behind them.
  statements[0]!.answer(new Error('invalid input syntax for type json'));
  await nextTurn();
  assert.deepEqual(sent(), [['a', 'b'], ['a'], ['b']]);
  const refused = connectionRefused();
  statements[1]!.answer(refused);
  statements[2]!.answer();
  const outcomes = await Promise.allSettled(grouped);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ['rejected', 'fulfilled'],
  );
  await nextTurn();
  await nextTurn();
  assert.deepEqual(statements.at(-1)!.items, ['c'], 'what waited is tried in the next statement');
  statements.at(-1)!.answer();
  assert.equal(await waiting, 'c done');
});

test('an outage met by a statement that had stalled fails only its own items', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { batch, statements, sent } = controlledBatch();
  const stuck = batch('a');
  await nextTurn();
  t.mock.timers.tick(250);
  const next = batch('b');
  await nextTurn();
  const waiting = batch('c');
  await nextTurn();
  assert.deepEqual(sent(), [['a'], ['b']]);

  const refused = Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
  statements[0]!.answer(refused);
  await assert.rejects(stuck, refused);
  statements[1]!.answer();
  assert.equal(await next, 'b done');
  await nextTurn();
  await nextTurn();
  statements[2]!.answer();
  assert.equal(await waiting, 'c done');
});

test('a statement left unanswered (a row lock held elsewhere) holds back the next one for 250 ms, not until it ends', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { batch, statements, sent } = controlledBatch();
  const stuck = batch('a');
  await nextTurn();
  const next = batch('b');
  await nextTurn();
  t.mock.timers.tick(249);
  await nextTurn();
  assert.equal(statements.length, 1);

  t.mock.timers.tick(1);
  await nextTurn();
  assert.deepEqual(sent(), [['a'], ['b']]);
  statements[1]!.answer();
  assert.equal(await next, 'b done');

  // Once the stalled one ends, its kind is back to one statement in flight.
  statements[0]!.answer();
  assert.equal(await stuck, 'a done');
  const third = batch('c');
  await nextTurn();
  const fourth = batch('d');
  await nextTurn();
  assert.deepEqual(sent(), [['a'], ['b'], ['c']]);
  statements[2]!.answer();
  await third;
  await nextTurn();
  await nextTurn();
  statements[3]!.answer();
  assert.equal(await fourth, 'd done');
});
