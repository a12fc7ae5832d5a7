import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { authorize, CALLBACK, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';

const API = 'https://api.example.test';
const OTHER_API = 'https://other.example.test';

test('access tokens and resource indicators (RFC 8707, RFC 9068)', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read', 'write'] });
  await idp.apis.create({ identifier: OTHER_API, scopes: ['read'] });
  const user = await idp.users.create();

  await t.test('with a resource the access token is a JWT for that API', (t) => jwtForApi(t, idp, user));
  await t.test('without a resource the access token is opaque and works at /userinfo', () =>
    opaqueWithoutResource(idp, user),
  );
  await t.test('an unknown resource is invalid_target', (t) => unknownResource(t, idp, user));
});

type User = { id: string; email: string };

async function jwtForApi(t: TestContext, idp: Latchkey, user: User) {
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client, 'basic');
  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid read', resource: API });
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    flow.callback,
    {
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      pkceCodeVerifier: flow.codeVerifier,
      idTokenExpected: true,
    },
    { resource: API },
  );
  const accessToken = tokens.access_token;
  assert.equal(tokens.claims()?.sub, user.id, 'the ID token is still there');

  await t.test('verifiable with the issuer JWKS: typ at+jwt, ES256, aud, scope, client_id, iss, exp', async () => {
    const header = decodeProtectedHeader(accessToken);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(accessToken, jwks, {
      issuer: idp.issuer,
      audience: API,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    assert.equal(payload.aud, API);
    assert.equal(payload.scope, 'read');
    assert.equal(payload.client_id, client.clientId);
    assert.equal(payload.sub, user.id);
    assert.ok(payload.exp! > Math.floor(Date.now() / 1000));
  });

  await t.test('an API checking its audience refuses a token for another API', async () => {
    await assert.rejects(
      jwtVerify(accessToken, jwks, { issuer: idp.issuer, audience: OTHER_API, algorithms: ['ES256'] }),
      (err: unknown) => (err as { code?: string }).code === 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    );
  });

  await t.test('a tampered token is refused', async () => {
    const [header, payload, signature] = accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'read write' })).toString('base64url');
    await assert.rejects(
      jwtVerify(`${header}.${widened}.${signature}`, jwks, { issuer: idp.issuer, audience: API }),
      (err: unknown) => (err as { code?: string }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );
  });
}

async function opaqueWithoutResource(idp: Latchkey, user: User) {
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email, scope: 'openid email' }));
  assert.equal(tokens.access_token.split('.').length, 1, 'not a JWT');
  assert.equal((await oidc.fetchUserInfo(rp, tokens.access_token, user.id)).email, user.email);
}

async function unknownResource(t: TestContext, idp: Latchkey, user: User) {
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  await t.test('at /authorize, sent back to the client', async () => {
    const flow = await authorize(idp, rp, {
      email: user.email,
      scope: 'openid read',
      resource: 'https://unknown.example.test',
    });
    assert.equal(`${flow.callback.origin}${flow.callback.pathname}`, CALLBACK);
    assert.equal(flow.callback.searchParams.get('error'), 'invalid_target');
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    assert.equal(flow.sawLogin, false);
  });

  await t.test('at /token', async () => {
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid read', resource: API });
    await assert.rejects(
      oidc.authorizationCodeGrant(
        rp,
        flow.callback,
        { expectedState: flow.state, expectedNonce: flow.nonce, pkceCodeVerifier: flow.codeVerifier },
        { resource: 'https://unknown.example.test' },
      ),
      (err: unknown) => {
        assert.ok(err instanceof oidc.ResponseBodyError, String(err));
        assert.equal(err.error, 'invalid_target');
        return true;
      },
    );
  });
}
