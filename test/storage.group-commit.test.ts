import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { createPayloadStore, type UpsertRow } from '../src/oidc/payload-store.ts';
import { countedPool, startLatchkey } from './helpers/latchkey.ts';

/**
 * Saves and consumes that arrive at the same moment go to PostgreSQL as one statement and one
 * commit (db/statement-batch.ts): each caller is answered once that commit is done, a code is still
 * consumed once however the simultaneous attempts are grouped, and a row PostgreSQL refuses fails
 * only its own save.
 */

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
