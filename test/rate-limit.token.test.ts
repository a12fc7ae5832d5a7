import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

test('token requests over RATE_LIMIT_TOKEN_PER_MINUTE from one address get 429 JSON with Retry-After', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_TOKEN_PER_MINUTE: '3' });
  const client = await idp.clients.create({ grantTypes: ['authorization_code', 'client_credentials'] });
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;
  const tokenRequest = () =>
    fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
    });

  for (let i = 1; i <= 3; i += 1) {
    const res = await tokenRequest();
    assert.ok(res.status < 429, `request ${i} reaches the engine (${res.status})`);
    await res.arrayBuffer();
  }
  const limited = await tokenRequest();
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After is the rest of the window (${retryAfter})`);
  assert.match(limited.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(limited.headers.get('cache-control'), 'no-store');
  const body = (await limited.json()) as { error: string; error_description: string };
  assert.equal(body.error, 'temporarily_unavailable');
  assert.match(body.error_description, /too many token requests/);

  // Discovery and the other endpoints are not counted against /token.
  assert.equal((await fetch(`${idp.issuer}/.well-known/openid-configuration`)).status, 200);
});

test('the default token limit lets a backend redeem and refresh for many users at once', async (t) => {
  const idp = await startLatchkey(t);
  assert.equal(idp.config.rateLimit.tokenPerMinute, 6000, 'default');
  const user = await idp.users.create();
  const client = await idp.clients.create({ grantTypes: ['authorization_code', 'refresh_token'] });
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  let refreshToken = (await exchange(rp, flow)).refresh_token!;
  // 100 rotations back to back from one address: all pass.
  for (let i = 0; i < 100; i += 1) refreshToken = (await oidc.refreshTokenGrant(rp, refreshToken)).refresh_token!;
  assert.ok(refreshToken);
});
