import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthErrorBody } from './helpers/oauth-errors.ts';

const SCOPE = 'openid email offline_access';

/** One person signed in to one app from two devices (two browsers, two authorizations). */
async function twoDevices(idp: Latchkey) {
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
    'basic',
  );
  const laptop = await exchange(rp, await authorize(idp, rp, { email: user.email, scope: SCOPE, prompt: 'consent' }));
  const phone = await exchange(rp, await authorize(idp, rp, { email: user.email, scope: SCOPE, prompt: 'consent' }));
  assert.ok(laptop.refresh_token && phone.refresh_token);
  return { user, rp, laptop, phone };
}

/** A refresh the server committed but whose response never reached the client (a worker died). */
async function refreshWithLostResponse(rp: oidc.Configuration, refreshToken: string) {
  return oidc.refreshTokenGrant(rp, refreshToken); // the client never sees this
}

test('a refresh whose response was lost, retried [no reuse grace]: only that chain ends', async (t) => {
  const idp = await startLatchkey(t);
  const { user, rp, laptop, phone } = await twoDevices(idp);

  const lost = await refreshWithLostResponse(rp, laptop.refresh_token!);
  await assert.rejects(
    oidc.refreshTokenGrant(rp, laptop.refresh_token!),
    oauthErrorBody('invalid_grant'),
    'the retry is a reuse',
  );
  await assert.rejects(
    oidc.refreshTokenGrant(rp, lost.refresh_token!),
    oauthErrorBody('invalid_grant'),
    'that chain is revoked',
  );
  await assert.rejects(oidc.fetchUserInfo(rp, lost.access_token, user.id), isUnauthorized);

  // The person's other device with the same app keeps working.
  assert.equal((await oidc.fetchUserInfo(rp, phone.access_token, user.id)).sub, user.id);
  const next = await oidc.refreshTokenGrant(rp, phone.refresh_token!);
  assert.equal(next.claims()?.sub, user.id);
});

test('a refresh whose response was lost, retried within REFRESH_TOKEN_REUSE_GRACE_SECONDS: nothing ends', async (t) => {
  const idp = await startLatchkey(t, { REFRESH_TOKEN_REUSE_GRACE_SECONDS: '60' });

  await t.test("the retry rotates once more; the lost rotation's tokens are revoked", async () => {
    const { user, rp, laptop, phone } = await twoDevices(idp);

    const lost = await refreshWithLostResponse(rp, laptop.refresh_token!);
    const retried = await oidc.refreshTokenGrant(rp, laptop.refresh_token!);
    assert.ok(retried.refresh_token);
    assert.notEqual(retried.refresh_token, lost.refresh_token);

    await assert.rejects(
      oidc.fetchUserInfo(rp, lost.access_token, user.id),
      isUnauthorized,
      'the lost access token is revoked',
    );
    assert.equal((await oidc.fetchUserInfo(rp, retried.access_token, user.id)).sub, user.id);
    const onward = await oidc.refreshTokenGrant(rp, retried.refresh_token!);
    assert.equal(onward.claims()?.sub, user.id, 'the chain goes on from the retry');

    // The lost refresh token was never delivered, so whoever presents it copied it: a replay.
    await assert.rejects(oidc.refreshTokenGrant(rp, lost.refresh_token!), oauthErrorBody('invalid_grant'));
    assert.equal(
      (await oidc.refreshTokenGrant(rp, phone.refresh_token!)).claims()?.sub,
      user.id,
      'the other device is untouched',
    );
  });

  await t.test('only once: the same refresh token a third time is a replay and ends the chain', async () => {
    const { user, rp, laptop, phone } = await twoDevices(idp);
    await refreshWithLostResponse(rp, laptop.refresh_token!);
    const retried = await oidc.refreshTokenGrant(rp, laptop.refresh_token!);

    await assert.rejects(oidc.refreshTokenGrant(rp, laptop.refresh_token!), oauthErrorBody('invalid_grant'));
    await assert.rejects(
      oidc.refreshTokenGrant(rp, retried.refresh_token!),
      oauthErrorBody('invalid_grant'),
      'the chain is revoked',
    );
    assert.equal(
      (await oidc.refreshTokenGrant(rp, phone.refresh_token!)).claims()?.sub,
      user.id,
      'the other device is untouched',
    );
  });

  await t.test('two simultaneous retries: at most one rotates', async () => {
    const { user, rp, laptop, phone } = await twoDevices(idp);
    const lost = await refreshWithLostResponse(rp, laptop.refresh_token!);

    const retries = await Promise.allSettled([1, 2, 3].map(() => oidc.refreshTokenGrant(rp, laptop.refresh_token!)));
    const rotated = retries.filter((r) => r.status === 'fulfilled');
    assert.ok(rotated.length <= 1, `${rotated.length} retries rotated`);
    for (const r of retries) if (r.status === 'rejected') oauthErrorBody('invalid_grant')(r.reason);

    // However many won, at most one refresh token of this chain still works.
    const candidates = [lost.refresh_token!, ...rotated.map((r) => r.value.refresh_token!)];
    const working = await Promise.allSettled(candidates.map((token) => oidc.refreshTokenGrant(rp, token)));
    assert.ok(working.filter((r) => r.status === 'fulfilled').length <= 1);
    assert.equal(
      (await oidc.refreshTokenGrant(rp, phone.refresh_token!)).claims()?.sub,
      user.id,
      'the other device is untouched',
    );
  });

  await t.test('past the grace window a reuse revokes, as without one', async () => {
    const { rp, laptop } = await twoDevices(idp);
    const lost = await refreshWithLostResponse(rp, laptop.refresh_token!);
    await idp.server.database.pool.query(
      `update oidc_payloads set consumed_at = now() - interval '61 seconds' where model = 'RefreshToken' and consumed_at is not null`,
    );
    await assert.rejects(oidc.refreshTokenGrant(rp, laptop.refresh_token!), oauthErrorBody('invalid_grant'));
    await assert.rejects(oidc.refreshTokenGrant(rp, lost.refresh_token!), oauthErrorBody('invalid_grant'));
  });
});
