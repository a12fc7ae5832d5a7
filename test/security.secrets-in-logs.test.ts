import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';
import { spawnServer } from './helpers/spawned-server.ts';

test('a full flow at LOG_LEVEL=debug logs no password, secret, code, token or cookie value', async (t) => {
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '1', LOG_LEVEL: 'debug' } });
  const { issuer, secretKey } = server;

  const password = `pw-${randomBytes(12).toString('hex')}`;
  const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
  const email = `secret.${randomBytes(4).toString('hex')}@example.com`;
  await server.users.create({ email, name: 'Secret Person', password });
  const registered = await server.clients.create({
    name: 'Secret App',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
  });
  const clientSecret = registered.clientSecret!;
  const rp = await server.rp(registered);

  // A wrong password first, then the real flow: login, consent, code, tokens, userinfo, refresh,
  // introspection, revocation, client credentials, a bad client secret, logout.
  const page = await openLoginPage(server, rp);
  assert.equal((await postLogin(page, email, wrongPassword)).response.status, 401);
  const flow = await authorize(server, rp, {
    email,
    password,
    scope: 'openid profile email offline_access',
    prompt: 'consent',
  });
  const code = flow.callback.searchParams.get('code')!;
  const tokens = await exchange(rp, flow);
  await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  await oidc.tokenIntrospection(rp, refreshed.access_token);
  await oidc.tokenRevocation(rp, refreshed.refresh_token!);
  // A failure here fails the test: a missing machine token would leave it out of the secrets checked.
  const machine = await oidc.clientCredentialsGrant(rp, { scope: 'openid' });
  const wrongSecret = `bad-${randomBytes(16).toString('hex')}`;
  const badAuth = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${registered.clientId}:${wrongSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  assert.equal(badAuth.status, 401);
  const logout = await flow.agent.navigate(
    `/logout?${new URLSearchParams({ id_token_hint: tokens.id_token!, client_id: registered.clientId })}`,
  );
  assert.ok(logout.response.status < 500);

  // The interaction cookies carry the interaction uid, which is in the page's URL by design (the
  // engine routes /interaction/:uid); their signature (.sig) is what a thief would need.
  const jar = flow.agent.cookies();
  const cookies = jar.filter((c) => !c.path.includes(c.value)).map((c) => c.value);
  assert.ok(
    jar.some((c) => c.name === '_session'),
    'the session cookie is among those checked',
  );
  const secrets: Record<string, string> = {
    password,
    wrongPassword,
    clientSecret,
    wrongSecret,
    code,
    codeVerifier: flow.codeVerifier,
    email,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token!,
    idToken: tokens.id_token!,
    rotatedAccessToken: refreshed.access_token,
    rotatedRefreshToken: refreshed.refresh_token!,
    machineToken: machine.access_token,
    ...Object.fromEntries(cookies.map((value, i) => [`cookie${i}`, value])),
    secretKey,
  };
  // Let the last log lines reach the pipe.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const output = server.output();
  assert.ok(output.includes('"level":20'), 'debug lines were written (LOG_LEVEL=debug is in effect)');
  assert.ok(output.split('\n').length > 20, 'the flow was logged');
  const leaked = Object.entries(secrets)
    .filter(([, value]) => output.includes(value))
    .map(([name]) => name);
  assert.deepEqual(leaked, [], 'no secret appears in the log');
});
