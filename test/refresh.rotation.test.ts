import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthErrorBody } from './helpers/oauth-errors.ts';

test('refresh tokens', async (t) => {
  const idp = await startLatchkey(t);

  for (const type of ['confidential', 'public'] as const) {
    await t.test(`rotate on every use, and reuse revokes the grant [${type}]`, async () => {
      const user = await idp.users.create();
      const rp = await idp.rp(await idp.clients.create({ type, grantTypes: ['authorization_code', 'refresh_token'] }));

      const flow = await authorize(idp, rp, {
        email: user.email,
        scope: 'openid email offline_access',
        prompt: 'consent',
      });
      const first = await exchange(rp, flow);
      assert.ok(first.refresh_token, 'offline_access with prompt=consent gives a refresh token');
      assert.match(first.scope ?? '', /\boffline_access\b/);

      const second = await oidc.refreshTokenGrant(rp, first.refresh_token);
      assert.notEqual(second.access_token, first.access_token);
      assert.ok(second.refresh_token, 'a new refresh token');
      assert.notEqual(second.refresh_token, first.refresh_token, 'rotated');
      assert.equal(second.claims()?.sub, user.id, 'a fresh ID token for the same person');
      assert.equal((await oidc.fetchUserInfo(rp, second.access_token, user.id)).email, user.email);

      const third = await oidc.refreshTokenGrant(rp, second.refresh_token);
      assert.ok(third.refresh_token);

      // The rotated-out first token comes back: someone copied it. The whole grant goes.
      await assert.rejects(oidc.refreshTokenGrant(rp, first.refresh_token), oauthErrorBody('invalid_grant'));
      await assert.rejects(
        oidc.refreshTokenGrant(rp, third.refresh_token),
        oauthErrorBody('invalid_grant'),
        'the newest refresh token stops working too',
      );
      for (const token of [first.access_token, second.access_token, third.access_token]) {
        await assert.rejects(oidc.fetchUserInfo(rp, token, user.id), isUnauthorized);
      }
    });
  }

  await t.test('offline_access without prompt=consent is dropped: no refresh token', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

    const tokens = await exchange(
      rp,
      await authorize(idp, rp, { email: user.email, scope: 'openid email offline_access' }),
    );
    assert.ok(tokens.access_token);
    assert.equal(tokens.refresh_token, undefined);
    assert.doesNotMatch(tokens.scope ?? '', /offline_access/);
  });

  await t.test('a client without the refresh_token grant gets no refresh token', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(
      await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code'] }),
      'basic',
    );

    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
    assert.equal((await exchange(rp, flow)).refresh_token, undefined);
  });
});
