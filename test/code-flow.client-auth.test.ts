import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, CALLBACK, exchange, type Latchkey, startLatchkey, type TestClient } from './helpers/latchkey.ts';

/** A raw token request, so the test sees the status, headers and body exactly as a client would. */
async function tokenRequest(idp: Latchkey, body: Record<string, string>, basic?: { id: string; secret: string }) {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (basic)
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString('base64')}`;
  const response = await fetch(`${idp.issuer}/token`, { method: 'POST', headers, body: new URLSearchParams(body) });
  return { response, json: (await response.json()) as Record<string, unknown> };
}

async function codeFor(idp: Latchkey, client: TestClient, email: string) {
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { email });
  return { flow, code: flow.callback.searchParams.get('code')! };
}

test('client authentication at the token endpoint', async (t) => {
  const idp = await startLatchkey(t);

  await t.test(
    'a default confidential client may authenticate with client_secret_basic or client_secret_post',
    async () => {
      const user = await idp.users.create();
      const client = await idp.clients.create({ type: 'confidential' });

      for (const method of ['basic', 'post'] as const) {
        const rp = await idp.rp(client, method);
        const flow = await authorize(idp, rp, { email: user.email });
        const tokens = await exchange(rp, flow);
        assert.ok(tokens.access_token, `tokens issued with client_secret_${method}`);
        assert.equal(tokens.claims()?.sub, user.id);
      }
    },
  );

  await t.test('a wrong client secret is refused with 401 invalid_client as RFC 6749 JSON, and no tokens', async () => {
    const user = await idp.users.create();
    const client = await idp.clients.create({ type: 'confidential' });
    const { flow, code } = await codeFor(idp, client, user.email);
    const grant = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: flow.codeVerifier };

    const viaBasic = await tokenRequest(idp, grant, { id: client.clientId, secret: 'not-the-secret' });
    assert.equal(viaBasic.response.status, 401);
    assert.match(viaBasic.response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(viaBasic.json.error, 'invalid_client');
    assert.equal(typeof viaBasic.json.error_description, 'string');
    assert.equal(viaBasic.json.access_token, undefined);
    // RFC 6749 §5.2: a client that used the Authorization header is told the scheme to use.
    assert.match(viaBasic.response.headers.get('www-authenticate') ?? '', /^Basic /);

    const viaPost = await tokenRequest(idp, { ...grant, client_id: client.clientId, client_secret: 'not-the-secret' });
    assert.equal(viaPost.response.status, 401);
    assert.equal(viaPost.json.error, 'invalid_client');

    // openid-client surfaces the same error to an RP with the wrong secret.
    const wrong = await idp.rp({ clientId: client.clientId, clientSecret: 'not-the-secret' }, 'post');
    await assert.rejects(exchange(wrong, flow), (err: unknown) => {
      assert.ok(err instanceof oidc.ResponseBodyError);
      assert.equal(err.error, 'invalid_client');
      assert.equal(err.status, 401);
      return true;
    });

    // The failed attempts did not burn the code: the real client can still redeem it.
    const tokens = await exchange(await idp.rp(client, 'basic'), flow);
    assert.ok(tokens.access_token);
  });

  await t.test('a client registered for client_secret_post refuses client_secret_basic', async () => {
    const user = await idp.users.create();
    const client = await idp.clients.create({ type: 'confidential', tokenEndpointAuthMethod: 'client_secret_post' });
    const { flow, code } = await codeFor(idp, client, user.email);

    const viaBasic = await tokenRequest(
      idp,
      { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: flow.codeVerifier },
      { id: client.clientId, secret: client.clientSecret! },
    );
    assert.equal(viaBasic.response.status, 401);
    assert.match(viaBasic.response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(viaBasic.json.error, 'invalid_client');
    assert.equal(viaBasic.json.access_token, undefined);

    const introspect = await fetch(`${idp.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: 'anything' }),
    });
    assert.equal(introspect.status, 401);
    assert.equal(((await introspect.json()) as { error: string }).error, 'invalid_client');

    const tokens = await exchange(await idp.rp(client, 'post'), flow);
    assert.ok(tokens.access_token, 'the registered method still works');
  });

  await t.test('a client registered for client_secret_basic refuses client_secret_post', async () => {
    const user = await idp.users.create();
    const client = await idp.clients.create({ type: 'confidential', tokenEndpointAuthMethod: 'client_secret_basic' });
    const { flow } = await codeFor(idp, client, user.email);

    await assert.rejects(exchange(await idp.rp(client, 'post'), flow), (err: unknown) => {
      assert.ok(err instanceof oidc.ResponseBodyError);
      assert.equal(err.error, 'invalid_client');
      assert.equal(err.status, 401);
      return true;
    });
    const tokens = await exchange(await idp.rp(client, 'basic'), flow);
    assert.ok(tokens.access_token, 'the registered method still works');
  });
});
