import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';

// RFC 9110 §15.5.6: a method the endpoint does not have is 405 with the methods it has in Allow,
// answered as that endpoint answers its errors; a path nothing serves stays 404.
test('an endpoint asked with a method it does not have', async (t) => {
  const idp = await startLatchkey(t);

  await t.test('GET /token: 405, Allow, RFC 6749-shaped JSON', async () => {
    const response = await fetch(`${idp.issuer}/token`);
    assert.equal(response.status, 405);
    assert.deepEqual(response.headers.get('allow')?.split(', ').sort(), ['OPTIONS', 'POST']);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
  });

  await t.test('DELETE /authorize: 405 naming GET, HEAD and POST', async () => {
    const response = await fetch(`${idp.issuer}/authorize`, { method: 'DELETE', headers: { accept: 'text/html' } });
    assert.equal(response.status, 405);
    assert.deepEqual(response.headers.get('allow')?.split(', ').sort(), ['GET', 'HEAD', 'POST']);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/, 'a page for a browser');
  });

  await t.test('PUT /userinfo and POST /jwks: 405', async () => {
    assert.equal((await fetch(`${idp.issuer}/userinfo`, { method: 'PUT' })).status, 405);
    assert.equal((await fetch(`${idp.issuer}/jwks`, { method: 'POST' })).status, 405);
  });

  await t.test('a path no route has is still 404', async () => {
    assert.equal((await fetch(`${idp.issuer}/no-such-endpoint`, { method: 'POST' })).status, 404);
  });

  await t.test('an endpoint switched off keeps 404 for any method', async () => {
    // Dynamic registration is off by default: /register tells nothing.
    assert.equal((await fetch(`${idp.issuer}/register`)).status, 404);
  });
});
