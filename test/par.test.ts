import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { UserAgent } from './helpers/browser.ts';
import { authorize, CALLBACK, signInFrom, startLatchkey } from './helpers/latchkey.ts';

async function parRequest(rp: oidc.Configuration) {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url, codeVerifier, state, nonce };
}

test('pushed authorization requests (RFC 9126)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();

  await t.test('a client pushes its request to /par and signs the user in with the request_uri', async () => {
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }));
    const request = await parRequest(rp);
    assert.equal(`${request.url.origin}${request.url.pathname}`, `${idp.issuer}/authorize`);
    assert.match(request.url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/);
    assert.equal(request.url.searchParams.get('redirect_uri'), null, 'the parameters travel on the back channel');

    const agent = new UserAgent(idp.issuer);
    const done = await signInFrom(idp, agent, agent.navigate(request.url), { email: user.email });
    assert.ok(done.sawLogin && done.location);
    const tokens = await oidc.authorizationCodeGrant(rp, done.location, {
      pkceCodeVerifier: request.codeVerifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test('a request_uri is single-use', async () => {
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }));
    const request = await parRequest(rp);
    const agent = new UserAgent(idp.issuer);
    await signInFrom(idp, agent, agent.navigate(request.url), { email: user.email });

    // The redirect_uri was in the used-up request, so the error is shown here, not sent anywhere.
    const again = await new UserAgent(idp.issuer).navigate(request.url);
    assert.equal(again.location, undefined);
    assert.equal(again.response.status, 400);
    assert.match(again.body, /invalid_request_uri/);
  });

  await t.test(
    'a client registered with require_pushed_authorization_requests cannot send a plain request',
    async () => {
      const client = await idp.clients.create(
        { type: 'confidential' },
        { require_pushed_authorization_requests: true },
      );
      const rp = await idp.rp(client);

      const plain = await authorize(idp, rp, { email: user.email });
      assert.equal(`${plain.callback.origin}${plain.callback.pathname}`, CALLBACK);
      assert.equal(plain.callback.searchParams.get('error'), 'invalid_request');
      assert.match(plain.callback.searchParams.get('error_description') ?? '', /pushed authorization request/i);
      assert.equal(plain.sawLogin, false);

      const request = await parRequest(rp);
      const agent = new UserAgent(idp.issuer);
      const done = await signInFrom(idp, agent, agent.navigate(request.url), { email: user.email });
      assert.ok(done.location?.searchParams.get('code'), 'the pushed request works');
    },
  );

  await t.test('discovery advertises the endpoint and the per-client requirement is not global', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(metadata.pushed_authorization_request_endpoint, `${idp.issuer}/par`);
    assert.notEqual(metadata.require_pushed_authorization_requests, true);
  });
});
