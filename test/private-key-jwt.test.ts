import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';

async function clientKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

function rpWithKey(idp: Latchkey, clientId: string, privateKey: Parameters<typeof oidc.PrivateKeyJwt>[0]) {
  return oidc.discovery(new URL(idp.issuer), clientId, undefined, oidc.PrivateKeyJwt(privateKey), {
    execute: [oidc.allowInsecureRequests],
  });
}

/** Serves a JWK Set on 127.0.0.1, as a client's jwks_uri. */
async function serveJwks(t: TestContext, jwks: { keys: unknown[] }): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
}

test('private_key_jwt with keys registered inline', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const key = await clientKey('app-1');
  const client = await idp.clients.create(
    {
      type: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['authorization_code', 'client_credentials'],
    },
    { jwks: { keys: [key.jwk] } },
  );
  assert.equal(client.clientSecret, undefined, 'a private_key_jwt client has no secret');

  await t.test(
    'the client signs in a user and uses client_credentials, authenticating with a signed assertion',
    async () => {
      const rp = await rpWithKey(idp, client.clientId, key.privateKey);
      const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email }));
      assert.equal(tokens.claims()?.sub, user.id);
      assert.ok((await oidc.clientCredentialsGrant(rp)).access_token);
    },
  );

  await t.test('an assertion signed with another key is refused', async () => {
    const stranger = await clientKey('app-1');
    await assert.rejects(
      oidc.clientCredentialsGrant(await rpWithKey(idp, client.clientId, stranger.privateKey)),
      oauthError('invalid_client'),
    );
  });

  await t.test('an assertion is single-use', async () => {
    const assertion = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'app-1' })
      .setIssuer(client.clientId)
      .setSubject(client.clientId)
      .setAudience(idp.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(key.privateKey);
    const send = () =>
      fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_assertion: assertion,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        }),
      });
    assert.equal((await send()).status, 200);
    const replay = await send();
    assert.equal(replay.status, 401);
    assert.equal(((await replay.json()) as { error: string }).error, 'invalid_client');
  });

  await t.test('a client secret is no way in for a private_key_jwt client', async () => {
    const withSecret = await idp.rp({ clientId: client.clientId, clientSecret: 'guessed-secret' });
    await assert.rejects(oidc.clientCredentialsGrant(withSecret), oauthError('invalid_client'));
  });
});

test('private_key_jwt with a jwks_uri, reachable on loopback only with ALLOW_LOOPBACK_OUTBOUND', async (t) => {
  const key = await clientKey('app-2');
  const jwksUri = await serveJwks(t, { keys: [key.jwk] });

  const dev = await startLatchkey(t, { ALLOW_LOOPBACK_OUTBOUND: 'true' });
  const devClient = await dev.clients.create(
    {
      type: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      redirectUris: [],
    },
    { jwks_uri: jwksUri },
  );
  assert.ok((await oidc.clientCredentialsGrant(await rpWithKey(dev, devClient.clientId, key.privateKey))).access_token);

  // By default the engine's SSRF guard refuses to fetch keys from a loopback address.
  const prod = await startLatchkey(t);
  const prodClient = await prod.clients.create(
    {
      type: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      redirectUris: [],
    },
    { jwks_uri: jwksUri },
  );
  await assert.rejects(
    oidc.clientCredentialsGrant(await rpWithKey(prod, prodClient.clientId, key.privateKey)),
    oauthError('invalid_client'),
  );
});

test('discovery lists exactly the client authentication methods we accept', async (t) => {
  const idp = await startLatchkey(t);
  const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.deepEqual(metadata.token_endpoint_auth_methods_supported, [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
    'none',
  ]);
  const algs = metadata.token_endpoint_auth_signing_alg_values_supported as string[];
  assert.ok(algs.includes('ES256') && algs.includes('RS256'));
  assert.ok(!algs.some((alg) => alg.startsWith('HS')), 'no client_secret_jwt');
});
