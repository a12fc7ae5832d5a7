import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { authorize, startLatchkey } from './helpers/latchkey.ts';

/** A DPoP proof made by hand, so the very same proof can be sent twice. */
async function proofFor(
  keyPair: Awaited<ReturnType<typeof oidc.randomDPoPKeyPair>>,
  method: string,
  url: string,
  accessToken: string,
) {
  return new SignJWT({
    htm: method,
    htu: url,
    jti: randomUUID(),
    ath: createHash('sha256').update(accessToken).digest('base64url'),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keyPair.publicKey) })
    .setIssuedAt()
    .sign(keyPair.privateKey);
}

test('DPoP sender-constrained tokens (RFC 9449)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'public', tokenEndpointAuthMethod: 'none' });
  const rp = await idp.rp(client, 'none');
  const keyPair = await oidc.randomDPoPKeyPair('ES256');
  const dpop = oidc.getDPoPHandle(rp, keyPair);
  const userinfo = `${idp.issuer}/userinfo`;

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    flow.callback,
    {
      pkceCodeVerifier: flow.codeVerifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    },
    undefined,
    { DPoP: dpop },
  );

  await t.test('the token endpoint issues DPoP tokens bound to the key', async () => {
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    assert.ok(tokens.refresh_token);
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id, { DPoP: dpop });
    assert.equal(info.sub, user.id);
  });

  await t.test('the access token is useless as a bearer token or with another key', async () => {
    const bearer = await fetch(userinfo, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(bearer.status, 401);

    const otherKey = await oidc.randomDPoPKeyPair('ES256');
    const stolen = await fetch(userinfo, {
      headers: {
        authorization: `DPoP ${tokens.access_token}`,
        dpop: await proofFor(otherKey, 'GET', userinfo, tokens.access_token),
      },
    });
    assert.equal(stolen.status, 401);
    assert.match(stolen.headers.get('www-authenticate') ?? '', /invalid_(dpop_proof|token)/);
  });

  await t.test('a DPoP proof is single-use: a replayed proof is refused', async () => {
    const proof = await proofFor(keyPair, 'GET', userinfo, tokens.access_token);
    const first = await fetch(userinfo, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    assert.equal(first.status, 200);
    const replay = await fetch(userinfo, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    assert.equal(replay.status, 401);
    assert.match(replay.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);
    const remembered = await idp.server.database.pool.query(
      `select 1 from oidc_payloads where model = 'ReplayDetection'`,
    );
    assert.ok((remembered.rowCount ?? 0) > 0, 'spent proofs are remembered in PostgreSQL, for every node');
    // Only the proof was spent: a fresh proof still works.
    const fresh = await fetch(userinfo, {
      headers: {
        authorization: `DPoP ${tokens.access_token}`,
        dpop: await proofFor(keyPair, 'GET', userinfo, tokens.access_token),
      },
    });
    assert.equal(fresh.status, 200);
  });

  await t.test("the public client's refresh token is bound too: it refreshes only with the same key", async () => {
    const otherHandle = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    await assert.rejects(
      oidc.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP: otherHandle }),
      (err: unknown) => {
        assert.ok(err instanceof oidc.ResponseBodyError);
        assert.equal(err.error, 'invalid_grant');
        return true;
      },
    );
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP: dpop });
    assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
  });

  await t.test('introspection reports the key binding', async () => {
    const confidential = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
    const service = await idp.rp(confidential);
    const serviceKey = await oidc.randomDPoPKeyPair('ES256');
    const bound = await oidc.clientCredentialsGrant(service, undefined, {
      DPoP: oidc.getDPoPHandle(service, serviceKey),
    });
    assert.equal(bound.token_type.toLowerCase(), 'dpop');
    const details = await oidc.tokenIntrospection(service, bound.access_token);
    assert.equal(details.active, true);
    assert.equal(details.token_type, 'DPoP');
    assert.equal(
      (details.cnf as { jkt?: string } | undefined)?.jkt,
      await calculateJwkThumbprint(await exportJWK(serviceKey.publicKey)),
    );
  });

  await t.test('discovery lists the DPoP signing algorithms', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.ok(
      Array.isArray(metadata.dpop_signing_alg_values_supported) &&
        metadata.dpop_signing_alg_values_supported.includes('ES256'),
    );
  });
});
