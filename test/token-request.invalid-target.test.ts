import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { oauthErrorBody } from './helpers/oauth-errors.ts';

const API = 'https://api.invalid-target.example';
const OTHER = 'https://not-registered.example';

// RFC 8707 §2: a token request for a resource it may not have is refused with invalid_target, an
// error in the request (RFC 6749 §5.2). The code or refresh token it carried stays usable: the
// client's corrected request is not a replay.
test('a token request refused with invalid_target does not spend its code or refresh token', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
  );

  await t.test('refresh_token: the refusal, then the same refresh token works and the grant stands', async () => {
    const flow = await authorize(idp, rp, {
      email: user.email,
      scope: 'openid email offline_access read',
      prompt: 'consent',
      resource: API,
    });
    const first = await exchange(rp, flow);
    assert.ok(first.refresh_token);

    const liveRefreshTokens = async () =>
      Number(
        (
          await idp.server.database.pool.query<{ n: string }>(
            `select count(*) as n from oidc_payloads where model = 'RefreshToken' and consumed_at is null`,
          )
        ).rows[0]!.n,
      );
    const before = await liveRefreshTokens();
    // An API that is not registered is refused after the engine consumed the token; a malformed
    // one (a fragment) before it: neither may spend it.
    for (const resource of [OTHER, `${API}#fragment`]) {
      await assert.rejects(
        oidc.refreshTokenGrant(rp, first.refresh_token, { resource }),
        oauthErrorBody('invalid_target'),
        `resource ${resource}`,
      );
    }
    assert.equal(await liveRefreshTokens(), before, 'no refresh token written for a refused request');
    const second = await oidc.refreshTokenGrant(rp, first.refresh_token, { resource: API });
    assert.ok(second.refresh_token, 'the refresh token was not spent by the refusals');
    const plain = await oidc.refreshTokenGrant(rp, second.refresh_token);
    assert.equal((await oidc.fetchUserInfo(rp, plain.access_token, user.id)).email, user.email, 'the grant stands');
  });

  await t.test('authorization_code: the refusal, then the same code is exchanged', async () => {
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid read', resource: API });
    await assert.rejects(
      oidc.authorizationCodeGrant(
        rp,
        flow.callback,
        { expectedState: flow.state, expectedNonce: flow.nonce, pkceCodeVerifier: flow.codeVerifier },
        { resource: OTHER },
      ),
      oauthErrorBody('invalid_target'),
    );
    const tokens = await exchange(rp, flow);
    assert.ok(tokens.access_token, 'the code was not spent by the refusal');
  });

  await t.test('a code used twice is still refused the second time', async () => {
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid' });
    await exchange(rp, flow);
    await assert.rejects(exchange(rp, flow), oauthErrorBody('invalid_grant'));
  });
});

test('with a refresh token reuse grace, the corrected retry after invalid_target is the once-more', async (t) => {
  const idp = await startLatchkey(t, { REFRESH_TOKEN_REUSE_GRACE_SECONDS: '60' });
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
  );
  const first = await exchange(
    rp,
    await authorize(idp, rp, {
      email: user.email,
      scope: 'openid offline_access read',
      prompt: 'consent',
      resource: API,
    }),
  );
  await assert.rejects(
    oidc.refreshTokenGrant(rp, first.refresh_token!, { resource: OTHER }),
    oauthErrorBody('invalid_target'),
  );
  const retried = await oidc.refreshTokenGrant(rp, first.refresh_token!, { resource: API });
  assert.ok(retried.refresh_token, 'within the grace the corrected retry is served');
  await assert.rejects(
    oidc.refreshTokenGrant(rp, first.refresh_token!),
    oauthErrorBody('invalid_grant'),
    'a third use is a replay',
  );
});
