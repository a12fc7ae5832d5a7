import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import pg from 'pg';
import { createAccounts } from '../src/accounts/accounts.ts';
import { createPasswordHasher } from '../src/accounts/passwords.ts';
import { createAccountStore } from '../src/accounts/store.ts';
import { createClients } from '../src/clients/clients.ts';
import { createClientStore } from '../src/clients/store.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { createTestDatabase } from './helpers/database.ts';
import { authorize, CALLBACK, exchange, freePort, type Latchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin, spawnLatchkey } from './helpers/security.ts';

test('a full flow at LOG_LEVEL=debug logs no password, secret, code, token or cookie value', async (t) => {
  const database = await createTestDatabase();
  const cleanup: Array<() => Promise<unknown>> = [];
  // In order: the server and our pool let go of the database before it is dropped.
  t.after(async () => {
    for (const step of cleanup.reverse()) await step();
    await database.drop();
  });
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const secretKey = randomBytes(32).toString('base64url');
  const server = await spawnLatchkey({
    PORT: String(port), ISSUER: issuer, DATABASE_URL: database.url, LATCHKEY_SECRET_KEY: secretKey, LOG_LEVEL: 'debug',
  });
  cleanup.push(() => server.stop());

  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  cleanup.push(() => pool.end());
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
  const email = `secret.${randomBytes(4).toString('hex')}@example.com`;
  const accounts = createAccounts({ store: createAccountStore(pool), passwords: createPasswordHasher({ memoryKib: 19456, iterations: 2 }), lockout: { threshold: 10, lockSeconds: 900 } });
  assert.ok((await accounts.create({ email, name: 'Secret Person', password, emailVerified: true })).ok);
  const registered = await createClients({ store: createClientStore(pool), box: createSecretBox(secretKey) })
    .create({ name: 'Secret App', type: 'confidential', redirectUris: [CALLBACK], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
  assert.ok(registered.ok);
  const clientSecret = registered.clientSecret!;
  const rp = await oidc.discovery(new URL(issuer), registered.client.client_id, undefined,
    oidc.ClientSecretBasic(clientSecret), { execute: [oidc.allowInsecureRequests] });
  const idp = { issuer } as Latchkey;

  // A wrong password first, then the real flow: login, consent, code, tokens, userinfo, refresh,
  // introspection, revocation, client credentials, a bad client secret, logout.
  const page = await openLoginPage(idp, rp);
  assert.equal((await postLogin(page, email, wrongPassword)).response.status, 401);
  const flow = await authorize(idp, rp, { email, password, scope: 'openid profile email offline_access', prompt: 'consent' });
  const code = flow.callback.searchParams.get('code')!;
  const tokens = await exchange(rp, flow);
  await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  await oidc.tokenIntrospection(rp, refreshed.access_token);
  await oidc.tokenRevocation(rp, refreshed.refresh_token!);
  const machine = await oidc.clientCredentialsGrant(rp, { scope: 'openid' }).catch(() => undefined);
  const wrongSecret = `bad-${randomBytes(16).toString('hex')}`;
  const badAuth = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${registered.client.client_id}:${wrongSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  assert.equal(badAuth.status, 401);
  const logout = await flow.agent.navigate(`/logout?${new URLSearchParams({ id_token_hint: tokens.id_token!, client_id: registered.client.client_id })}`);
  assert.ok(logout.response.status < 500);

  // The interaction cookies carry the interaction uid, which is in the page's URL by design (the
  // engine routes /interaction/:uid); their signature (.sig) is what a thief would need.
  const jar = (flow.agent as unknown as { cookies: Array<{ name: string; value: string; path: string }> }).cookies;
  const cookies = jar.filter((c) => !c.path.includes(c.value)).map((c) => c.value);
  assert.ok(jar.some((c) => c.name === '_session'), 'the session cookie is among those checked');
  const secrets: Record<string, string> = {
    password, wrongPassword, clientSecret, wrongSecret, code, codeVerifier: flow.codeVerifier, email,
    accessToken: tokens.access_token, refreshToken: tokens.refresh_token!, idToken: tokens.id_token!,
    rotatedAccessToken: refreshed.access_token, rotatedRefreshToken: refreshed.refresh_token!,
    ...(machine ? { machineToken: machine.access_token } : {}),
    ...Object.fromEntries(cookies.map((value, i) => [`cookie${i}`, value])),
    secretKey,
  };
  // Let the last log lines reach the pipe.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const output = server.output();
  assert.ok(output.includes('"level":20'), 'debug lines were written (LOG_LEVEL=debug is in effect)');
  assert.ok(output.split('\n').length > 20, 'the flow was logged');
  const leaked = Object.entries(secrets).filter(([, value]) => output.includes(value)).map(([name]) => name);
  assert.deepEqual(leaked, [], 'no secret appears in the log');
});
