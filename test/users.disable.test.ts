import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { createAccountStore } from '../src/accounts/store.ts';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';
import { isUnauthorized, oauthError } from './helpers/oauth-errors.ts';

const API = 'https://api.example.test';

// What docs/SECURITY.md says disabling a user ends, and what it does not.
test('a disabled user: refresh, userinfo and the session stop; JWT access tokens for APIs live until they expire', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const user = await idp.users.create();
  const client = await idp.clients.create({
    grantTypes: ['authorization_code', 'refresh_token'],
    scope: 'openid offline_access read',
  });
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens = await exchange(rp, flow);
  const apiFlow = await authorize(idp, rp, {
    email: user.email,
    scope: 'openid read',
    resource: API,
    agent: flow.agent,
  });
  const apiTokens = await oidc.authorizationCodeGrant(
    rp,
    apiFlow.callback,
    { expectedState: apiFlow.state, expectedNonce: apiFlow.nonce, pkceCodeVerifier: apiFlow.codeVerifier },
    { resource: API },
  );

  await createAccountStore(idp.server.database.pool).setDisabled(user.id, true);

  await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!), oauthError('invalid_grant'));
  await assert.rejects(oidc.fetchUserInfo(rp, tokens.access_token, user.id), isUnauthorized);

  // The browser's session no longer signs in: the login page shows, with no code for the app.
  const page = await flow.agent.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 's',
      nonce: 'n',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }),
  );
  assert.equal(page.location, undefined);
  assert.match(page.body, /\/login"/);

  // An API checks its JWT offline: it still verifies, until its exp (the API's TTL, 900 s by default).
  const { payload } = await jwtVerify(apiTokens.access_token, createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)), {
    issuer: idp.issuer,
    audience: API,
  });
  assert.equal(payload.sub, user.id);
  assert.ok(payload.exp! - payload.iat! <= 900);
});
