import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import pg from 'pg';
import { createPayloadStore, type UpsertRow } from '../src/oidc/payload-store.ts';
import { authorize, countedPool, exchange, startLatchkey } from './helpers/latchkey.ts';

/**
 * Requests that look up a token at the same moment share one statement (db/statement-batch.ts,
 * oidc/payload-store.ts readBatch): each still gets its own token's answer, a token two requests
 * present together is answered to both, and a token revoked before they ask is refused to all.
 */

const row = (
  model: string,
  id: string,
  payload: Record<string, unknown>,
  grantId: string | null = null,
): UpsertRow => ({
  model,
  id,
  payload,
  grantId,
  uid: null,
  userCode: null,
  sessionUid: null,
  expiresIn: 3600,
});

test('tokens looked up at the same moment are read in one statement, each with its own grant', async (t) => {
  const idp = await startLatchkey(t);
  const { pool, statements } = countedPool(t, idp.database.url);
  const payloads = createPayloadStore(pool);
  await Promise.all([
    payloads.upsert(row('Grant', 'grant-a', { accountId: 'account-a' })),
    payloads.upsert(row('Grant', 'grant-b', { accountId: 'account-b' })),
    payloads.upsert(row('AccessToken', 'token-a', { kind: 'AccessToken', grantId: 'a' }, 'grant-a')),
    payloads.upsert(row('ClientCredentials', 'token-b', { kind: 'ClientCredentials' })),
    payloads.upsert(row('RefreshToken', 'token-c', { kind: 'RefreshToken', grantId: 'b' }, 'grant-b')),
  ]);
  statements.length = 0;

  const [a, b, c, missing, aAgain] = await Promise.all(
    ['token-a', 'token-b', 'token-c', 'token-none', 'token-a'].map((id) => payloads.findOpaqueToken(id)),
  );

  assert.deepEqual(statements, ['oidc_payloads.find_opaque_tokens']);
  assert.deepEqual([...a!.tokens.keys()], ['AccessToken']);
  assert.equal(a!.grant?.row?.payload.accountId, 'account-a');
  assert.deepEqual([...b!.tokens.keys()], ['ClientCredentials']);
  assert.equal(b!.grant, undefined);
  assert.deepEqual([...c!.tokens.keys()], ['RefreshToken']);
  assert.equal(c!.grant?.row?.payload.accountId, 'account-b');
  assert.equal(missing!.tokens.size, 0);
  // The same token asked for twice: equal answers, never the same objects (a find's result is changed in place).
  assert.deepEqual(aAgain, a);
  assert.notEqual(aAgain!.tokens.get('AccessToken')!.payload, a!.tokens.get('AccessToken')!.payload);
});

test('userinfo requests presenting tokens at the same moment are each answered for their own token', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client);
  const names = ['Ada', 'Grace', 'Edsger', 'Barbara'];
  const people = await Promise.all(
    names.map(async (name) => ({ name, ...(await idp.users.create({ name, email: `${name}@batch.example` })) })),
  );
  const signedIn: Array<{ person: (typeof people)[number]; accessToken: string }> = [];
  for (const person of people) {
    const tokens = await exchange(rp, await authorize(idp, rp, { email: person.email, scope: 'openid profile' }));
    signedIn.push({ person, accessToken: tokens.access_token });
  }
  const revoked = signedIn[3]!;
  await oidc.tokenRevocation(rp, revoked.accessToken);

  // Each person's token twice over, at once: eight requests, four distinct tokens, one revoked.
  const userinfo = (accessToken: string) =>
    fetch(`${idp.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  const answers = await Promise.all([...signedIn, ...signedIn].map(({ accessToken }) => userinfo(accessToken)));

  for (const [i, answer] of answers.entries()) {
    const { person } = signedIn[i % signedIn.length]!;
    if (person === revoked.person) {
      assert.equal(answer.status, 401, 'a revoked token is refused');
      continue;
    }
    assert.equal(answer.status, 200);
    const claims = (await answer.json()) as { sub: string; name: string };
    assert.deepEqual([claims.sub, claims.name], [person.id, person.name], 'its own token, its own person');
  }
});

/** The plan a prepared statement runs on, on this one-connection pool's connection. */
async function planOf(pool: pg.Pool, execute: string): Promise<string> {
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`explain execute ${execute}`);
  return rows.map((line) => line['QUERY PLAN']).join('\n');
}

async function genericPlansUsed(pool: pg.Pool, names: string[]): Promise<Array<[string, boolean]>> {
  const { rows } = await pool.query<{ name: string; generic_plans: string }>(
    'select name, generic_plans from pg_prepared_statements where name = any($1) order by name',
    [names],
  );
  return rows.map(({ name, generic_plans }) => [name, Number(generic_plans) > 0]);
}

test('the lookups and consumes by a batch of ids run on their prepared plan, not planned again each time', async (t) => {
  const idp = await startLatchkey(t);
  // One connection, so that its prepared statements are the ones pg_prepared_statements shows.
  const pool = new pg.Pool({ connectionString: idp.database.url, max: 1 });
  t.after(() => pool.end());
  const payloads = createPayloadStore(pool);
  const ids = Array.from({ length: 8 }, (_, i) => `code-${i}`);
  await Promise.all(ids.map((id) => payloads.upsert(row('AuthorizationCode', id, { kind: 'AuthorizationCode' }))));
  // A table of some size, with statistics, as a server's is: on a nearly empty one every plan costs alike.
  await pool.query(`insert into oidc_payloads (model, id, payload, grant_id, expires_at)
    select 'AccessToken', 'token-' || i, '{}', 'grant-' || i % 500, now() + interval '1 hour' from generate_series(1, 20000) i`);
  await pool.query(`insert into oidc_payloads (model, id, payload, uid, expires_at)
    select case when i % 10 = 0 then 'Session' else 'Interaction' end, 'row-' || i, '{}', 'uid-' || i,
      now() + interval '1 hour' from generate_series(1, 20000) i`);
  await pool.query('analyze oidc_payloads');

  // One at a time, each its own statement: PostgreSQL plans the first five for their values, then
  // keeps the generic plan when it costs no more than those did.
  for (const id of ids) {
    await payloads.findToken('AuthorizationCode', id);
    await payloads.findOpaqueToken(id);
    assert.equal(await payloads.consume('AuthorizationCode', id), true);
    await payloads.findByUid('Session', `uid-of-${id}`);
  }

  assert.deepEqual(
    await genericPlansUsed(pool, [
      'oidc_payloads.find_tokens',
      'oidc_payloads.find_opaque_tokens',
      'oidc_payloads.consume_many',
      'oidc_payloads.find_by_uid',
    ]),
    [
      ['oidc_payloads.consume_many', true],
      ['oidc_payloads.find_by_uid', true],
      ['oidc_payloads.find_opaque_tokens', true],
      ['oidc_payloads.find_tokens', true],
    ],
  );
  // And that plan finds the rows by primary key (an index scan or a bitmap of it).
  for (const execute of [
    `"oidc_payloads.find_tokens"('{code-1}', 'AuthorizationCode')`,
    `"oidc_payloads.find_opaque_tokens"('{token-1}')`,
    `"oidc_payloads.consume_many"('AuthorizationCode', '{code-1}')`,
  ]) {
    const plan = await planOf(pool, execute);
    assert.match(plan, /oidc_payloads_pkey[^\n]*\n\s*Index Cond: \(+id = ANY/);
    assert.doesNotMatch(plan, /Seq Scan on oidc_payloads/);
  }
  const byUid = await planOf(pool, `"oidc_payloads.find_by_uid"('Session', 'uid-10')`);
  assert.match(byUid, /Index Cond: \(uid = \$2\)/);
  assert.doesNotMatch(byUid, /Seq Scan on oidc_payloads/);
});

test('refresh token saves keep a plan that finds each grant by primary key, made while the table was small', async (t) => {
  const idp = await startLatchkey(t);
  const pool = new pg.Pool({ connectionString: idp.database.url, max: 1 });
  t.after(() => pool.end());
  const payloads = createPayloadStore(pool);
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => payloads.upsert(row('Grant', `grant-${i}`, { accountId: `account-${i}` }))),
  );
  // Each rotation's save its own statement, while the table holds a few rows and has no statistics.
  for (let i = 0; i < 8; i++) {
    await payloads.upsert(row('RefreshToken', `refresh-${i}`, { kind: 'RefreshToken' }, `grant-${i}`));
  }
  assert.deepEqual(await genericPlansUsed(pool, ['oidc_payloads.upsert_refresh_tokens_many']), [
    ['oidc_payloads.upsert_refresh_tokens_many', true],
  ]);

  // The table grows by thousands of grants; the kept plan still goes to the one grant by its key.
  await pool.query(`insert into oidc_payloads (model, id, payload, expires_at)
    select 'Grant', 'more-' || i, jsonb_build_object('accountId', 'a-' || i, 'clientId', 'c'), now() + interval '1 day'
    from generate_series(1, 20000) i`);
  const saved = JSON.stringify([
    { model: 'RefreshToken', id: 'refresh-9', payload: {}, grant_id: 'grant-1', expires_in: 3600 },
  ]);
  const plan = await planOf(pool, `"oidc_payloads.upsert_refresh_tokens_many"('${saved}')`);
  assert.match(plan, /Index Scan using oidc_payloads_pkey on oidc_payloads g/);
  assert.doesNotMatch(plan, /oidc_payloads_grant_account/);
});
