import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

test('confidential client signs a user in with client_secret_basic and gets ID and access tokens', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client, 'basic');

  const flow = await authorize(idp, rp, { email: user.email });
  assert.ok(flow.sawLogin, 'login page shown');
  assert.ok(flow.sawConsent, 'consent page shown');
  assert.equal(flow.callback.searchParams.get('iss'), idp.issuer);

  const tokens = await exchange(rp, flow);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.access_token);
  assert.ok(tokens.expires_in && tokens.expires_in > 0);
  const claims = tokens.claims()!;
  assert.equal(claims.sub, user.id);
  assert.equal(claims.email, user.email);
  assert.equal(tokens.refresh_token, undefined, 'no refresh token without offline_access');

  const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
  assert.equal(info.email, user.email);
});
