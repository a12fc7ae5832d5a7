import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { createPayloadStore } from '../src/oidc/payload-store.ts';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';

const OFFLINE = { scope: 'openid offline_access', prompt: 'consent' };

/**
 * Each authorization with offline_access gets a grant of its own. A page can send a signed-in
 * person's browser to /authorize with offline_access as often as it likes; what is never
 * consented to must leave no grant (each would otherwise live REFRESH_TOKEN_TTL).
 */
test('offline authorizations a signed-in person abandons leave no grant; a completed one still gets its own', async (t) => {
  const idp = await startLatchkey(t);
  const payloads = createPayloadStore(idp.server.database.pool);
  const user = await idp.users.create();
  const rp = await idp.rp(
    await idp.clients.create({ type: 'confidential', grantTypes: ['authorization_code', 'refresh_token'] }),
    'basic',
  );
  const first = await authorize(idp, rp, { email: user.email, ...OFFLINE });
  const firstTokens = await exchange(rp, first);
  assert.equal((await payloads.grantsOfAccount(user.id)).length, 1);

  // The same browser, signed in with the consent remembered, sent to /authorize five times at once.
  const pages = await Promise.all(
    [1, 2, 3, 4, 5].map(() =>
      first.agent.navigate(
        oidc.buildAuthorizationUrl(rp, {
          redirect_uri: CALLBACK,
          ...OFFLINE,
          state: oidc.randomState(),
          nonce: oidc.randomNonce(),
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        }),
      ),
    ),
  );
  for (const page of pages)
    assert.ok(page.body.includes('/consent"'), `the consent page is shown (${page.url.pathname})`);
  assert.equal((await payloads.grantsOfAccount(user.id)).length, 1, 'no grant for the abandoned authorizations');

  const second = await authorize(idp, rp, { email: user.email, ...OFFLINE, agent: first.agent });
  assert.equal(second.sawLogin, false);
  assert.ok(second.sawConsent);
  const secondTokens = await exchange(rp, second);
  assert.ok(secondTokens.refresh_token);
  const grants = await payloads.grantsOfAccount(user.id);
  assert.equal(grants.length, 2, 'the completed authorization has a grant of its own');
  assert.ok(
    grants.every((grant) => (grant.scope ?? '').split(' ').includes('offline_access')),
    'each holds what was consented to',
  );

  // Each chain is its own: both refresh, and the remembered scopes carried into the new grant.
  const refreshed = await oidc.refreshTokenGrant(rp, secondTokens.refresh_token!);
  assert.equal(refreshed.claims()?.sub, user.id);
  assert.equal((await oidc.refreshTokenGrant(rp, firstTokens.refresh_token!)).claims()?.sub, user.id);
});
