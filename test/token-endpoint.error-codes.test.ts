import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

// RFC 6749 §5.1 and §5.2: what the token endpoint (and the endpoints that authenticate a client
// the same way) answers besides tokens.
test('token endpoint: client authentication errors and cache headers', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ type: 'confidential', grantTypes: ['client_credentials'] });
  const basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;

  await t.test('a token response carries Cache-Control: no-store and Pragma: no-cache', async () => {
    const response = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic },
      body: 'grant_type=client_credentials',
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(response.headers.get('pragma'), 'no-cache');
  });

  for (const endpoint of ['/token', '/introspect', '/revoke']) {
    await t.test(
      `${endpoint} without any client authentication: 401 invalid_client with the scheme to use`,
      async () => {
        const response = await fetch(`${idp.issuer}${endpoint}`, {
          method: 'POST',
          headers: FORM,
          body: endpoint === '/token' ? 'grant_type=client_credentials' : 'token=abc',
        });
        assert.equal(response.status, 401);
        assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="/);
        const body = (await response.json()) as { error: string };
        assert.equal(body.error, 'invalid_client');
      },
    );
  }

  await t.test('a malformed Authorization header stays invalid_request (400)', async () => {
    const response = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: 'Basic !!!' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
  });

  await t.test('a wrong secret is invalid_client (401), as the engine answers it', async () => {
    const response = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: `Basic ${Buffer.from(`${client.clientId}:wrong`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
  });
});
