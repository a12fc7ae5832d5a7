import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
import { authorize, exchange, PASSWORD, startLatchkey } from './helpers/latchkey.ts';

// OpenID Connect Core §3.1.2.1: an authorization request with id_token_hint gets a positive
// response only for the End-User the hint names.
test('id_token_hint names another End-User than the one who signs in', async (t) => {
  const idp = await startLatchkey(t);
  const dave = await idp.users.create();
  const alice = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }));
  const daveIdToken = (await exchange(rp, await authorize(idp, rp, { email: dave.email }))).id_token!;

  await t.test('signing in as someone else shows the sign-in page again; the hinted person gets the code', async () => {
    const agent = new UserAgent(idp.issuer);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: 'http://127.0.0.1:8765/callback',
      scope: 'openid',
      state,
      nonce,
      id_token_hint: daveIdToken,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    const signIn = async (page: { url: URL; body: string }, email: string) =>
      agent.submitForm(new URL(`${page.url.pathname}/login`, idp.issuer), {
        csrf: formField(page.body, 'csrf')!,
        email,
        password: PASSWORD,
      });

    const first = await agent.navigate(url);
    assert.ok(formField(first.body, 'csrf'), 'the sign-in page');
    const asAlice = await signIn(first, alice.email);
    assert.equal(asAlice.location, undefined, 'no code for alice');
    assert.equal(asAlice.response.status, 200);
    assert.match(asAlice.body, /The app asked for a different account/);

    let step = await signIn(asAlice, dave.email);
    // The browser was signed in as alice: the engine signs that session out first (an auto-submitted form).
    const xsrf = formField(step.body, 'xsrf');
    if (!step.location && xsrf) {
      step = await agent.submitForm(new URL('/logout/confirm', idp.issuer), { xsrf, logout: 'yes' });
    }
    assert.ok(step.location, 'back at the app');
    const tokens = await oidc.authorizationCodeGrant(rp, step.location, {
      expectedState: state,
      expectedNonce: nonce,
      pkceCodeVerifier: codeVerifier,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims()?.sub, dave.id);
  });

  // The engine's own check at /authorize, kept beside the one after the sign-in.
  await t.test('with prompt=none and a session of someone else: login_required at the app', async () => {
    const flow = await authorize(idp, rp, { email: alice.email });
    const answer = await flow.agent.navigate(
      oidc.buildAuthorizationUrl(rp, {
        redirect_uri: 'http://127.0.0.1:8765/callback',
        scope: 'openid',
        state: 'st-none',
        prompt: 'none',
        id_token_hint: daveIdToken,
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }),
    );
    assert.ok(answer.location);
    assert.equal(answer.location.searchParams.get('error'), 'login_required');
    assert.equal(answer.location.searchParams.get('state'), 'st-none');
  });
});

// Signing in again within a session (prompt=login, max_age) shows whose session it is, as Keycloak does.
test('a sign-in asked again within a session names the session’s person', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }));
  const flow = await authorize(idp, rp, { email: user.email });
  const again = await flow.agent.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: 'http://127.0.0.1:8765/callback',
      scope: 'openid',
      state: oidc.randomState(),
      prompt: 'login',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }),
  );
  assert.ok(formField(again.body, 'csrf'), 'the sign-in page');
  assert.ok(again.body.includes(`value="${user.email}"`), 'the email field holds the session’s address');
});
