import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

const API = 'https://api.example.com';

test('a client introspects its own access and refresh tokens as active, unknown ones as inactive', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client);
  const tokens = await exchange(
    rp,
    await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
  );

  const access = await oidc.tokenIntrospection(rp, tokens.access_token);
  assert.equal(access.active, true);
  assert.equal(access.client_id, client.clientId);
  assert.equal(access.sub, user.id);
  assert.equal(access.token_type, 'Bearer');
  assert.equal(access.iss, idp.issuer);
  assert.ok(typeof access.exp === 'number' && access.exp > Date.now() / 1000);
  assert.match(String(access.scope), /\bopenid\b/);

  const refresh = await oidc.tokenIntrospection(rp, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
  assert.equal(refresh.active, true);
  assert.equal(refresh.client_id, client.clientId);

  const unknown = await oidc.tokenIntrospection(rp, 'not-a-token-we-issued');
  assert.deepEqual(unknown, { active: false });
});

test('another client learns nothing about a token: it is reported inactive', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const owner = await idp.clients.create({ type: 'confidential' });
  const ownerRp = await idp.rp(owner);
  const tokens = await exchange(
    ownerRp,
    await authorize(idp, ownerRp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' }),
  );

  const other = await idp.rp(await idp.clients.create({ type: 'confidential', name: 'Other App' }));
  assert.deepEqual(await oidc.tokenIntrospection(other, tokens.access_token), { active: false });
  assert.deepEqual(await oidc.tokenIntrospection(other, tokens.refresh_token!), { active: false });

  const service = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const serviceToken = await oidc.clientCredentialsGrant(await idp.rp(service));
  assert.equal((await oidc.tokenIntrospection(await idp.rp(service), serviceToken.access_token)).active, true);
  assert.deepEqual(await oidc.tokenIntrospection(other, serviceToken.access_token), { active: false });
});

test('introspection needs client authentication and refuses JWT access tokens, which APIs verify offline', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const service = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const rp = await idp.rp(service);
  const jwt = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read' });

  await assert.rejects(oidc.tokenIntrospection(rp, jwt.access_token), (err: unknown) => {
    assert.ok(err instanceof oidc.ResponseBodyError);
    assert.equal(err.error, 'unsupported_token_type');
    return true;
  });

  const anonymous = await fetch(`${idp.issuer}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: jwt.access_token, client_id: service.clientId }),
  });
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: string }).error, 'invalid_client');
});

test('discovery advertises the introspection and revocation endpoints', async (t) => {
  const idp = await startLatchkey(t);
  const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.equal(metadata.introspection_endpoint, `${idp.issuer}/introspect`);
  assert.equal(metadata.revocation_endpoint, `${idp.issuer}/revoke`);
  assert.deepEqual(metadata.grant_types_supported, [
    'authorization_code',
    'refresh_token',
    'client_credentials',
    'urn:ietf:params:oauth:grant-type:device_code',
  ]);
  assert.deepEqual(metadata.response_types_supported, ['code']);
});
