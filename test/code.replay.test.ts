import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthErrorBody } from './helpers/oauth-errors.ts';

test('authorization codes are single-use and bound to their client', async (t) => {
  const idp = await startLatchkey(t);

  await t.test('a replayed code is refused and revokes what the first exchange issued', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

    const flow = await authorize(idp, rp, {
      email: user.email,
      scope: 'openid email offline_access',
      prompt: 'consent',
    });
    const first = await exchange(rp, flow);
    assert.ok(first.refresh_token, 'offline_access with prompt=consent gives a refresh token');
    assert.equal(
      (await oidc.fetchUserInfo(rp, first.access_token, user.id)).sub,
      user.id,
      'the first access token works',
    );

    await assert.rejects(exchange(rp, flow), oauthErrorBody('invalid_grant'));

    await assert.rejects(oidc.fetchUserInfo(rp, first.access_token, user.id), isUnauthorized);
    await assert.rejects(oidc.refreshTokenGrant(rp, first.refresh_token), oauthErrorBody('invalid_grant'));
  });

  await t.test('a code issued to one client cannot be redeemed by another', async () => {
    const user = await idp.users.create();
    const rpA = await idp.rp(await idp.clients.create({ name: 'App A', type: 'confidential' }), 'basic');
    const rpB = await idp.rp(await idp.clients.create({ name: 'App B', type: 'confidential' }), 'basic');

    const flow = await authorize(idp, rpA, { email: user.email });
    // B replays A's callback (same redirect URI, state, nonce and verifier): only the client differs.
    await assert.rejects(exchange(rpB, flow), oauthErrorBody('invalid_grant'));
  });
});
