import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { UserAgent } from './helpers/browser.ts';
import { CALLBACK, startLatchkey } from './helpers/latchkey.ts';

test('/authorize with a redirect_uri that is not registered shows an error page and redirects nowhere', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  const candidates = {
    'another host': 'https://attacker.example/callback',
    'another path': 'http://127.0.0.1:8765/other',
    'another port': 'http://127.0.0.1:8766/callback',
    'a trailing slash': `${CALLBACK}/`,
    'an added query': `${CALLBACK}?next=1`,
    'different case': CALLBACK.replace('callback', 'Callback'),
  };
  for (const [label, redirectUri] of Object.entries(candidates)) {
    await t.test(`refuses ${label}`, async () => {
      const agent = new UserAgent(idp.issuer);
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: redirectUri,
        scope: 'openid',
        state: oidc.randomState(),
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const response = await agent.request(url, { headers: { accept: 'text/html' } });
      const body = await response.text();
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null, 'never a redirect to an unregistered URI');
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(body, /not registered for this return address/);
      assert.ok(!body.includes(redirectUri), 'the page does not link to the unregistered URI');
      assert.ok(!body.includes('name="password"'), 'refused before any sign-in');
      assert.doesNotMatch(body, /\bat .*\.js:\d+/, 'no stack trace');
      assert.equal(agent.hasCookie('_interaction'), false, 'no interaction was started');
    });
  }
});

test('/authorize without a redirect_uri says the request is at fault, not an unregistered address', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ type: 'confidential' });
  const url = new URL(`${idp.issuer}/authorize`);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  }).toString();
  const response = await fetch(url, { headers: { accept: 'text/html' }, redirect: 'manual' });
  const body = await response.text();
  assert.equal(response.status, 400);
  assert.equal(response.headers.get('location'), null);
  assert.doesNotMatch(body, /not registered for this return address/);
  assert.match(body, /redirect_uri/, "the engine's description names the missing parameter, for the app's developer");
});
