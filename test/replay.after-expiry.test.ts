import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthErrorBody } from './helpers/oauth-errors.ts';

/** The clock passes the lifetime of every used code or refresh token, by `seconds` (rows and payloads alike). */
async function expireConsumed(idp: Latchkey, model: string, seconds: number) {
  await idp.server.database.pool.query(
    `update oidc_payloads set expires_at = now() - make_interval(secs => $2::int),
       payload = jsonb_set(payload, '{exp}', to_jsonb(floor(extract(epoch from now()))::int - $2::int))
     where model = $1 and consumed_at is not null`,
    [model, seconds],
  );
}

test('a replay after the lifetime, within the grace window, still revokes', async (t) => {
  const idp = await startLatchkey(t);

  await t.test('a code replayed after it expired revokes the tokens issued from it', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');
    const flow = await authorize(idp, rp, {
      email: user.email,
      scope: 'openid email offline_access',
      prompt: 'consent',
    });
    const tokens = await exchange(rp, flow);
    assert.ok(tokens.refresh_token);

    await expireConsumed(idp, 'AuthorizationCode', 90);
    await assert.rejects(exchange(rp, flow), oauthErrorBody('invalid_grant'));

    await assert.rejects(oidc.fetchUserInfo(rp, tokens.access_token, user.id), isUnauthorized);
    await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token), oauthErrorBody('invalid_grant'));
  });

  await t.test('a rotated refresh token replayed after it expired revokes the chain', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(
      await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
      'basic',
    );
    const first = await exchange(
      rp,
      await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
    );
    const second = await oidc.refreshTokenGrant(rp, first.refresh_token!);

    await expireConsumed(idp, 'RefreshToken', 90);
    await assert.rejects(oidc.refreshTokenGrant(rp, first.refresh_token!), oauthErrorBody('invalid_grant'));

    await assert.rejects(
      oidc.refreshTokenGrant(rp, second.refresh_token!),
      oauthErrorBody('invalid_grant'),
      'the newest refresh token is revoked',
    );
    await assert.rejects(oidc.fetchUserInfo(rp, second.access_token, user.id), isUnauthorized);
  });

  await t.test('past the grace window the replay finds nothing (the janitor may have swept it)', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid' });
    const tokens = await exchange(rp, flow);

    await expireConsumed(idp, 'AuthorizationCode', 3600);
    await assert.rejects(exchange(rp, flow), oauthErrorBody('invalid_grant'));
    assert.equal((await oidc.fetchUserInfo(rp, tokens.access_token, user.id)).sub, user.id);
  });
});
