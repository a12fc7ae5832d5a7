import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
import { CALLBACK, signInFrom, startLatchkey } from './helpers/latchkey.ts';

const POST_LOGOUT = 'http://127.0.0.1:8765/signed-out';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

// OpenID Connect Core §3.1.2.1: the authorization endpoint takes POST as well as GET (form
// serialization, §13.2); RP-Initiated Logout §2: so does the logout endpoint.
test('authorization and logout requests sent as a form POST', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', postLogoutRedirectUris: [POST_LOGOUT] });
  const rp = await idp.rp(client);

  async function authorizationRequest() {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const params = {
      client_id: client.clientId,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid profile email',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    return { params, codeVerifier };
  }

  /** The code at the app's redirect URI, exchanged as the app does (state, nonce and PKCE checked). */
  function codeExchanged(callback: URL, request: Awaited<ReturnType<typeof authorizationRequest>>) {
    return oidc.authorizationCodeGrant(rp, callback, {
      expectedState: request.params.state,
      expectedNonce: request.params.nonce,
      pkceCodeVerifier: request.codeVerifier,
      idTokenExpected: true,
    });
  }

  await t.test('POST /authorize comes back as the same request by GET (303), and the code flow completes', async () => {
    const { params, codeVerifier } = await authorizationRequest();
    const agent = new UserAgent(idp.issuer);
    const posted = await agent.request(`${idp.issuer}/authorize`, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(posted.status, 303);
    const location = new URL(posted.headers.get('location') ?? '', idp.issuer);
    assert.equal(location.pathname, '/authorize');
    assert.deepEqual(Object.fromEntries(location.searchParams), params);

    const step = await signInFrom(idp, agent, agent.navigate(location), { email: user.email });
    assert.ok(step.location, 'back at the app');
    const tokens = await codeExchanged(step.location, { params, codeVerifier });
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test('a POSTed request with a duplicate parameter gets the engine’s refusal at the app', async () => {
    const { params } = await authorizationRequest();
    const body = `${new URLSearchParams(params)}&scope=openid`;
    const agent = new UserAgent(idp.issuer);
    const answer = await agent.navigate(`${idp.issuer}/authorize`, { method: 'POST', headers: FORM, body });
    assert.ok(answer.location, 'an error redirect to the registered URI');
    assert.equal(answer.location.searchParams.get('error'), 'invalid_request');
    assert.equal(answer.location.searchParams.get('state'), params.state);
  });

  await t.test('a POST that is not a form, or too large a form, gets a clear error and no redirect', async () => {
    const json = await fetch(`${idp.issuer}/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: client.clientId }),
      redirect: 'manual',
    });
    assert.equal(json.status, 415);
    assert.equal(json.headers.get('location'), null);
    const large = await fetch(`${idp.issuer}/authorize`, {
      method: 'POST',
      headers: FORM,
      body: `client_id=${client.clientId}&state=${'x'.repeat(10_000)}`,
      redirect: 'manual',
    });
    assert.equal(large.status, 413);
    assert.equal(large.headers.get('location'), null);
  });

  await t.test('POST /logout with id_token_hint shows the confirmation and returns to the app', async () => {
    const request = await authorizationRequest();
    const agent = new UserAgent(idp.issuer);
    const step = await signInFrom(idp, agent, agent.navigate(oidc.buildAuthorizationUrl(rp, request.params)), {
      email: user.email,
    });
    assert.ok(step.location);
    const tokens = await codeExchanged(step.location, request);

    const page = await agent.submitForm(`${idp.issuer}/logout`, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT,
      state: 'st-post',
    });
    assert.equal(page.response.status, 200);
    const xsrf = formField(page.body, 'xsrf');
    assert.ok(xsrf, 'the confirmation form');
    const confirmed = await agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf, logout: 'yes' });
    assert.ok(confirmed.location);
    assert.equal(`${confirmed.location.origin}${confirmed.location.pathname}`, POST_LOGOUT);
    assert.equal(confirmed.location.searchParams.get('state'), 'st-post');
  });
});
