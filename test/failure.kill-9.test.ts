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
import { authorize, CALLBACK, exchange, freePort, PASSWORD, type Latchkey } from './helpers/latchkey.ts';
import { spawnLatchkey } from './helpers/security.ts';

test('kill -9 under sign-in load: after a restart every refresh token issued before the kill still works', async (t) => {
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
  const env = {
    PORT: String(port), ISSUER: issuer, DATABASE_URL: database.url, LATCHKEY_SECRET_KEY: secretKey,
    LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '5', RATE_LIMIT_LOGIN_PER_MINUTE: '1000',
  };
  let server = await spawnLatchkey(env);
  cleanup.push(() => server.stop());

  // Arrange users and an app directly in the database the server migrated.
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  cleanup.push(() => pool.end());
  const accounts = createAccounts({ store: createAccountStore(pool), passwords: createPasswordHasher({ memoryKib: 19456, iterations: 2 }), lockout: { threshold: 10, lockSeconds: 900 } });
  const emails: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    const result = await accounts.create({ email: `load${i}@example.com`, name: `Load ${i}`, password: PASSWORD, emailVerified: true });
    assert.ok(result.ok);
    emails.push(result.account.email);
  }
  const registered = await createClients({ store: createClientStore(pool), box: createSecretBox(secretKey) })
    .create({ name: 'Load App', type: 'confidential', redirectUris: [CALLBACK], grantTypes: ['authorization_code', 'refresh_token'] });
  assert.ok(registered.ok);
  const rp = await oidc.discovery(new URL(issuer), registered.client.client_id, undefined,
    oidc.ClientSecretBasic(registered.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  const idp = { issuer } as Latchkey;

  // Four browsers sign in over and over; each finished flow leaves a refresh token.
  const issued: string[] = [];
  let killed = false;
  let interrupted = 0;
  const signInLoop = async (email: string) => {
    while (!killed) {
      try {
        const tokens = await exchange(rp, await authorize(idp, rp, { email, scope: 'openid offline_access', prompt: 'consent' }));
        if (!killed) issued.push(tokens.refresh_token!);
      } catch (err) {
        if (!killed) throw err;
        interrupted += 1;
      }
    }
  };
  const loops = emails.map((email) => signInLoop(email));
  const deadline = Date.now() + 60_000;
  while (issued.length < 12) {
    assert.ok(Date.now() < deadline, `12 sign-ins within 60 s (got ${issued.length})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The tokens counted so far were all returned to the client before the kill.
  const before = [...issued];
  server.process.kill('SIGKILL');
  killed = true;
  assert.equal(await server.exited, 'SIGKILL');
  await Promise.all(loops);

  server = await spawnLatchkey(env);
  const statuses: string[] = [];
  for (const refreshToken of before) {
    const refreshed = await oidc.refreshTokenGrant(rp, refreshToken).then(() => 'ok', (err: { error?: string }) => err.error ?? String(err));
    statuses.push(refreshed);
  }
  assert.deepEqual(statuses, before.map(() => 'ok'), `all ${before.length} refresh tokens issued before the kill work (${interrupted} flows were cut off)`);
  const after = await exchange(rp, await authorize(idp, rp, { email: emails[0]! }));
  assert.ok(after.access_token, 'and new sign-ins work');
});
