import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

test('ID token and userinfo', async (t) => {
  const idp = await startLatchkey(t);

  await t.test('ID token: state and nonce round-trip, signature, claims and userinfo', async () => {
    const user = await idp.users.create({ name: 'Ada Lovelace' });
    const client = await idp.clients.create({ type: 'confidential' });
    const rp = await idp.rp(client, 'basic');
    // openid-client then also verifies the ID token's JWS signature with the issuer's JWKS.
    oidc.enableNonRepudiationChecks(rp);

    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid profile email' });
    assert.equal(flow.callback.searchParams.get('state'), flow.state, 'state comes back unchanged');

    // expectedState/expectedNonce: openid-client refuses a mismatch before trusting anything.
    const tokens = await exchange(rp, flow);
    const claims = tokens.claims()!;
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, client.clientId);
    assert.equal(claims.nonce, flow.nonce);
    assert.equal(claims.sub, user.id, 'sub is the account id');
    assert.ok(claims.exp > Math.floor(Date.now() / 1000));
    assert.ok(claims.iat <= Math.floor(Date.now() / 1000) + 5);

    // The same token verifies independently against /jwks with its registered algorithm.
    const idToken = tokens.id_token!;
    assert.equal(decodeProtectedHeader(idToken).alg, 'RS256');
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const { payload } = await jwtVerify(idToken, jwks, {
      issuer: idp.issuer,
      audience: client.clientId,
      algorithms: ['RS256'],
    });
    assert.equal(payload.sub, user.id);
    const [header, , signature] = idToken.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'someone-else' })).toString('base64url');
    await assert.rejects(
      jwtVerify(`${header}.${forged}.${signature}`, jwks, { issuer: idp.issuer, audience: client.clientId }),
    );

    const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
    assert.equal(info.sub, user.id);
    assert.equal(info.name, 'Ada Lovelace');
    assert.equal(info.email, user.email);
    assert.equal(info.email_verified, true);
    assert.equal(typeof info.updated_at, 'number');
  });

  await t.test('a wrong nonce or state is caught by the relying party', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

    const flow = await authorize(idp, rp, { email: user.email });
    await assert.rejects(exchange(rp, { ...flow, state: oidc.randomState() }));
    // The state check ran before the code was sent, so the code is still good; now the nonce.
    await assert.rejects(exchange(rp, { ...flow, nonce: oidc.randomNonce() }), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED');
      assert.match((err as { cause?: Error }).cause?.message ?? '', /"nonce"/);
      return true;
    });
  });

  await t.test('userinfo releases only the claims of the granted scopes', async () => {
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

    const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email, scope: 'openid' }));
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
    assert.equal(info.sub, user.id);
    assert.equal(info.email, undefined);
    assert.equal(info.name, undefined);
  });
});
