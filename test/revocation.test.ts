import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';

async function signIn(t: Parameters<typeof startLatchkey>[0]) {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client);
  const tokens = await exchange(
    rp,
    await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
  );
  return { idp, user, client, rp, tokens };
}

test('revoking an access token ends it and the tokens issued with it (RFC 7009 §2.1 allows this)', async (t) => {
  const { user, rp, tokens } = await signIn(t);

  await oidc.tokenRevocation(rp, tokens.access_token, { token_type_hint: 'access_token' });
  assert.deepEqual(await oidc.tokenIntrospection(rp, tokens.access_token), { active: false });
  await assert.rejects(oidc.fetchUserInfo(rp, tokens.access_token, user.id), oauthError('invalid_token'));
  // The engine revokes every token of the grant (it keeps the consent itself).
  await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!), oauthError('invalid_grant'));
});

test('revoking a refresh token ends the grant: the refresh token and its access tokens stop working', async (t) => {
  const { rp, tokens } = await signIn(t);

  await oidc.tokenRevocation(rp, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
  assert.deepEqual(await oidc.tokenIntrospection(rp, tokens.refresh_token!), { active: false });
  assert.deepEqual(await oidc.tokenIntrospection(rp, tokens.access_token), { active: false });
  await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!), oauthError('invalid_grant'));
});

test('another client cannot revoke a token, and is not told whether it exists', async (t) => {
  const { idp, rp, tokens } = await signIn(t);
  const other = await idp.rp(await idp.clients.create({ type: 'confidential', name: 'Other App' }));

  // RFC 7009 §2.2: the answer is the same as for a token that does not exist.
  await oidc.tokenRevocation(other, tokens.access_token);
  await oidc.tokenRevocation(other, tokens.refresh_token!);
  await oidc.tokenRevocation(other, 'not-a-token-we-issued');

  assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, true);
  assert.equal((await oidc.tokenIntrospection(rp, tokens.refresh_token!)).active, true);
});

test('revocation needs client authentication', async (t) => {
  const { idp, client, tokens } = await signIn(t);
  const wrong = await idp.rp({ clientId: client.clientId, clientSecret: 'not-the-secret' });
  await assert.rejects(oidc.tokenRevocation(wrong, tokens.access_token), oauthError('invalid_client'));
});
