import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';
import { oauthErrorBody } from './helpers/oauth-errors.ts';

const TTL = 5; // REFRESH_TOKEN_TTL and SESSION_TTL: the grant's first lifetime is 5 s too

/**
 * A refresh token lasts REFRESH_TOKEN_TTL from its last use, and a chain up to a year. Each
 * authorization has its own grant, saved once: the grant must last as long as the chain is used.
 */
test("a refresh chain in use keeps working past its grant's first lifetime; an unused one ends", async (t) => {
  const idp = await startLatchkey(t, { REFRESH_TOKEN_TTL: String(TTL), SESSION_TTL: String(TTL) });
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
    'basic',
  );
  const used = await exchange(
    rp,
    await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
  );
  const unused = await exchange(
    rp,
    await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
  );

  // From here on the grant of `used` has at most its first 5 s left.
  let refreshToken = (await oidc.refreshTokenGrant(rp, used.refresh_token!)).refresh_token!;
  for (const _step of [1, 2, 3]) {
    // 7.5 s in all: well past the first 5 s
    await sleep(2500);
    const next = await oidc.refreshTokenGrant(rp, refreshToken).catch((err: { cause?: unknown }) => {
      throw new Error(`refresh refused: ${JSON.stringify(err.cause)}`, { cause: err });
    });
    assert.equal(next.claims()?.sub, user.id);
    refreshToken = next.refresh_token!;
  }
  await assert.rejects(
    oidc.refreshTokenGrant(rp, unused.refresh_token!),
    oauthErrorBody('invalid_grant'),
    'the chain nobody used has ended',
  );
});
