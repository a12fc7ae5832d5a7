import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClients } from '../src/clients/clients.ts';
import { createClientStore } from '../src/clients/store.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { authorize, CALLBACK, exchange, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage } from './helpers/security.ts';

/** RFC 9700 §2 policies that are visible from outside, each checked the way a client would meet it. */
test('RFC 9700 policy: what discovery promises is what the server does', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create();
  const rp = await idp.rp(client);
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;

  await t.test('§2.1.2: only the code response type; no implicit, no password grant (§2.4)', async () => {
    assert.deepEqual(discovery.response_types_supported, ['code']);
    // §4.17: no postMessage-based response mode.
    assert.deepEqual([...(discovery.response_modes_supported as string[])].sort(), ['form_post', 'fragment', 'query']);
    const grants = discovery.grant_types_supported as string[];
    assert.ok(!grants.includes('implicit') && !grants.includes('password'), `grants: ${grants.join(', ')}`);
    const implicit = await fetch(
      `${idp.issuer}/authorize?${new URLSearchParams({ client_id: client.clientId, response_type: 'token', scope: 'openid', redirect_uri: CALLBACK, state: 's', nonce: 'n' })}`,
      { redirect: 'manual' },
    );
    const back = new URL(implicit.headers.get('location') ?? '', idp.issuer);
    assert.equal(`${back.origin}${back.pathname}`, CALLBACK, 'the error goes to the registered redirect URI');
    const error = back.searchParams.get('error') ?? new URLSearchParams(back.hash.slice(1)).get('error');
    assert.equal(error, 'unsupported_response_type');
    const password = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: user.email, password: PASSWORD }).toString(),
    });
    assert.equal(password.status, 400);
    assert.equal(((await password.json()) as { error: string }).error, 'unsupported_grant_type');
  });

  await t.test(
    '§2.1.1: PKCE with S256 only is advertised; §4.4: the authorization response carries iss (RFC 9207)',
    async () => {
      assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
      assert.equal(discovery.authorization_response_iss_parameter_supported, true);
      const flow = await authorize(idp, rp, { email: user.email });
      assert.equal(flow.callback.searchParams.get('iss'), idp.issuer);
      await exchange(rp, flow);
    },
  );

  await t.test(
    '§2.1 / §4.1: redirect URIs are exact strings; wildcards, fragments and plain http off loopback cannot be registered',
    async () => {
      const clients = createClients({
        store: createClientStore(idp.server.database.pool),
        box: createSecretBox(idp.config.secretKey!),
      });
      for (const uri of [
        'https://*.example.com/cb',
        'https://app.example.com/cb#x',
        'http://app.example.com/cb',
        'javascript:alert(1)',
        'https://user:pw@app.example.com/cb',
      ]) {
        const result = await clients.create({ name: 'Bad', type: 'confidential', redirectUris: [uri] });
        assert.equal(result.ok, false, `${uri} is refused`);
      }
      for (const uri of [
        `${CALLBACK}/`,
        `${CALLBACK}?a=1`,
        CALLBACK.toUpperCase(),
        CALLBACK.replace('127.0.0.1', 'localhost'),
      ]) {
        const res = await fetch(
          `${idp.issuer}/authorize?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: uri })}`,
          { redirect: 'manual' },
        );
        assert.equal(res.status, 400, `${uri} does not match ${CALLBACK}`);
        assert.equal(res.headers.get('location'), null);
      }
    },
  );

  await t.test('§2.6 / §4.12: after the password form the server redirects with 303, never 307', async () => {
    const page = await openLoginPage(idp, rp);
    const res = await page.agent.request(page.loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: page.csrf, email: user.email, password: PASSWORD }).toString(),
    });
    assert.equal(res.status, 303);
  });

  await t.test('§4.3.2: an access token in the query string is refused', async () => {
    const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email }));
    const res = await fetch(`${idp.issuer}/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
    const header = await fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(header.status, 200, 'the header works');
  });
});
