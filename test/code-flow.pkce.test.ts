import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';

function redirectTarget(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

test('PKCE', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const app = await idp.clients.create({ type: 'public', tokenEndpointAuthMethod: 'none' });
  const rp = await idp.rp(app, 'none');

  await t.test('a public client with S256 PKCE gets tokens without a secret', async () => {
    const flow = await authorize(idp, rp, { email: user.email });
    const tokens = await exchange(rp, flow);
    assert.ok(tokens.access_token);
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test(
    'without code_challenge the browser goes back to the registered redirect URI with invalid_request',
    async () => {
      const flow = await authorize(idp, rp, { email: user.email, pkce: false });
      assert.equal(redirectTarget(flow.callback), CALLBACK);
      assert.equal(flow.callback.searchParams.get('error'), 'invalid_request');
      assert.equal(flow.callback.searchParams.get('state'), flow.state);
      assert.equal(flow.callback.searchParams.get('code'), null);
      assert.equal(flow.sawLogin, false, 'refused before any sign-in');
    },
  );

  await t.test('code_challenge_method=plain is refused', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const flow = await authorize(idp, rp, {
      email: user.email,
      pkce: false,
      extraParams: { code_challenge: verifier, code_challenge_method: 'plain' },
    });
    assert.equal(redirectTarget(flow.callback), CALLBACK);
    assert.equal(flow.callback.searchParams.get('error'), 'invalid_request');
    assert.equal(flow.callback.searchParams.get('code'), null);
  });

  await t.test('a wrong code_verifier at /token is invalid_grant', async () => {
    const flow = await authorize(idp, rp, { email: user.email });
    await assert.rejects(exchange(rp, { ...flow, codeVerifier: oidc.randomPKCECodeVerifier() }), (err: unknown) => {
      assert.ok(err instanceof oidc.ResponseBodyError);
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });

  await t.test('a missing code_verifier at /token is refused', async () => {
    const flow = await authorize(idp, rp, { email: user.email });
    await assert.rejects(exchange(rp, flow, false), (err: unknown) => {
      assert.ok(err instanceof oidc.ResponseBodyError);
      assert.ok(['invalid_grant', 'invalid_request'].includes(err.error), err.error);
      return true;
    });
  });

  await t.test('a confidential client that sent a challenge must send the matching verifier', async () => {
    const confidential = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');
    const flow = await authorize(idp, confidential, { email: user.email });
    await assert.rejects(
      exchange(confidential, { ...flow, codeVerifier: oidc.randomPKCECodeVerifier() }),
      (err: unknown) => {
        assert.ok(err instanceof oidc.ResponseBodyError);
        assert.equal(err.error, 'invalid_grant');
        return true;
      },
    );
  });
});
