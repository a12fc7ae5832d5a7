import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { authorize, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';

const API = 'https://api.example.com';

test('client_credentials gives a JWT access token for the API, with the API scopes the client is registered for', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read', 'write', 'admin'] });
  const client = await idp.clients.create({
    grantTypes: ['client_credentials'],
    redirectUris: [],
    scope: 'read write',
  });
  const rp = await idp.rp(client);

  const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read admin' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'read', 'admin is an API scope this client is not registered for');
  assert.equal(tokens.refresh_token, undefined);

  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
    issuer: idp.issuer,
    audience: API,
    typ: 'at+jwt',
  });
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(payload.client_id, client.clientId);
  assert.equal(payload.sub, client.clientId, 'RFC 9068 §2.2: the subject of a client credentials token is the client');
  assert.equal(payload.scope, 'read');

  const both = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write' });
  assert.equal(both.scope, 'read write');
});

test('client_credentials without a scope list on the client gets any of the API scopes it asks for', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read', 'write'] });
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const rp = await idp.rp(client, 'post');

  const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write unknown' });
  assert.equal(tokens.scope, 'read write');
});

test('client_credentials is refused to a client without the grant, a wrong secret and an unknown API', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const webApp = await idp.clients.create({ type: 'confidential' });
  await assert.rejects(
    oidc.clientCredentialsGrant(await idp.rp(webApp), { resource: API, scope: 'read' }),
    oauthError('unauthorized_client'),
  );

  const service = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const impostor = await idp.rp({
    clientId: service.clientId,
    clientSecret: `${service.clientSecret!.slice(0, -2)}xx`,
  });
  await assert.rejects(
    oidc.clientCredentialsGrant(impostor, { resource: API, scope: 'read' }),
    oauthError('invalid_client'),
  );

  await assert.rejects(
    oidc.clientCredentialsGrant(await idp.rp(service), { resource: 'https://elsewhere.example.com', scope: 'read' }),
    oauthError('invalid_target'),
  );
});

test('a public client cannot be registered with client_credentials', async (t) => {
  const idp = await startLatchkey(t);
  await assert.rejects(
    idp.clients.create({ type: 'public', grantTypes: ['client_credentials'], redirectUris: [] }),
    /public client cannot use client_credentials/,
  );
});

test('a scope list may mix OpenID and API scopes: it limits both, in the code flow too', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read', 'write'] });
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', scope: 'openid email read' });
  const rp = await idp.rp(client);

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid email read write', resource: API });
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    flow.callback,
    { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce },
    { resource: API },
  );
  assert.equal(tokens.scope, 'read');

  const refused = await authorize(idp, rp, { email: user.email, scope: 'openid profile', agent: flow.agent });
  assert.equal(refused.callback.searchParams.get('error'), 'invalid_scope', 'profile is not in the list');
});
