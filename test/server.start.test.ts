import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Latchkey, startLatchkey } from './helpers/latchkey.ts';

describe('a started server', () => {
  // One server for these read-only checks: starting one (fresh database, new keys) is the slow part.
  let idp: Latchkey;
  before(async () => {
    idp = await startLatchkey(undefined);
  });
  after(() => idp?.close());

  test('discovery lists every endpoint of the runtime contract under the configured issuer', async () => {
    const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const discovery = (await response.json()) as Record<string, unknown>;

    assert.equal(discovery.issuer, idp.issuer);
    assert.deepEqual(
      {
        authorization_endpoint: discovery.authorization_endpoint,
        token_endpoint: discovery.token_endpoint,
        userinfo_endpoint: discovery.userinfo_endpoint,
        jwks_uri: discovery.jwks_uri,
        end_session_endpoint: discovery.end_session_endpoint,
        revocation_endpoint: discovery.revocation_endpoint,
        introspection_endpoint: discovery.introspection_endpoint,
      },
      {
        authorization_endpoint: `${idp.issuer}/authorize`,
        token_endpoint: `${idp.issuer}/token`,
        userinfo_endpoint: `${idp.issuer}/userinfo`,
        jwks_uri: `${idp.issuer}/jwks`,
        end_session_endpoint: `${idp.issuer}/logout`,
        revocation_endpoint: `${idp.issuer}/revoke`,
        introspection_endpoint: `${idp.issuer}/introspect`,
      },
    );

    const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    assert.ok(jwks.keys.length > 0, 'signing keys published');
    for (const key of jwks.keys) assert.equal(key.d, undefined, 'no private key material in /jwks');
  });

  test('/healthz answers and /readyz reports its checks', async () => {
    const health = await fetch(`${idp.issuer}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const ready = await fetch(`${idp.issuer}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.database, 'ok');
    assert.equal(body.checks.keys, 'ok');
    for (const [check, state] of Object.entries(body.checks)) assert.equal(state, 'ok', check);
    assert.equal(ready.headers.get('cache-control'), 'no-store');
  });

  test('an unknown path is a 404 HTML page without a stack trace', async () => {
    for (const path of ['/no-such-page', '/interaction/not-a-real-uid/nothing-here']) {
      const response = await fetch(`${idp.issuer}${path}`, { headers: { accept: 'text/html' } });
      assert.equal(response.status, 404, path);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, path);
      const body = await response.text();
      assert.match(body, /<html/i, path);
      assert.doesNotMatch(body, /\bat .+\.(ts|js):\d+|node_modules|Error:/, `${path}: no stack trace`);
    }
  });
});
