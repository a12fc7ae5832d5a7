import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthErrorBody } from './helpers/oauth-errors.ts';

const SCOPE = 'openid email offline_access';

/**
 * REFRESH_TOKEN_REUSE_GRACE_SECONDS lets a client retry a refresh whose response it lost. Once the
 * client has used what that refresh returned, the response evidently was not lost: presenting the
 * old token again is a replay, within the grace or not, and must not start a second chain.
 */
test('a refresh token replayed within the reuse grace after the client rotated onward: the grant is revoked', async (t) => {
  const idp = await startLatchkey(t, { REFRESH_TOKEN_REUSE_GRACE_SECONDS: '60' });
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
    'basic',
  );
  const first = await exchange(rp, await authorize(idp, rp, { email: user.email, scope: SCOPE, prompt: 'consent' }));

  const rt1 = first.refresh_token!;
  const second = await oidc.refreshTokenGrant(rp, rt1); // RT1 -> RT2
  const third = await oidc.refreshTokenGrant(rp, second.refresh_token!); // RT2 -> RT3

  // An attacker who copied RT1 presents it while the grace still runs.
  await assert.rejects(oidc.refreshTokenGrant(rp, rt1), oauthErrorBody('invalid_grant'), 'RT1 is a replay');
  await assert.rejects(
    oidc.refreshTokenGrant(rp, third.refresh_token!),
    oauthErrorBody('invalid_grant'),
    'the chain (RT3) is revoked',
  );
  await assert.rejects(oidc.fetchUserInfo(rp, third.access_token, user.id), isUnauthorized, 'and its access token');
});
