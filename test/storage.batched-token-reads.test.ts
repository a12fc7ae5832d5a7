import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
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
