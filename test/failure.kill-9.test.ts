import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange } from './helpers/latchkey.ts';
import { spawnServer } from './helpers/spawned-server.ts';

test('kill -9 under sign-in load: after a restart every refresh token issued before the kill still works', async (t) => {
  const server = await spawnServer(t, {
    env: { WEB_CONCURRENCY: '1', LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '5', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' },
  });

  // Arrange users and an app directly in the database the server migrated.
  const emails: string[] = [];
  for (let i = 0; i < 4; i += 1)
    emails.push((await server.users.create({ email: `load${i}@example.com`, name: `Load ${i}` })).email);
  const rp = await server.rp(
    await server.clients.create({ name: 'Load App', grantTypes: ['authorization_code', 'refresh_token'] }),
  );

  // Four browsers sign in over and over; each finished flow leaves a refresh token.
  const issued: string[] = [];
  let killed = false;
  let interrupted = 0;
  const signInLoop = async (email: string) => {
    while (!killed) {
      try {
        const tokens = await exchange(
          rp,
          await authorize(server, rp, { email, scope: 'openid offline_access', prompt: 'consent' }),
        );
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
  server.child.kill('SIGKILL');
  killed = true;
  assert.equal(await server.exited, 'SIGKILL');
  await Promise.all(loops);

  await server.restart();
  const statuses: string[] = [];
  for (const refreshToken of before) {
    const refreshed = await oidc.refreshTokenGrant(rp, refreshToken).then(
      () => 'ok',
      (err: { error?: string }) => err.error ?? String(err),
    );
    statuses.push(refreshed);
  }
  assert.deepEqual(
    statuses,
    before.map(() => 'ok'),
    `all ${before.length} refresh tokens issued before the kill work (${interrupted} flows were cut off)`,
  );
  const after = await exchange(rp, await authorize(server, rp, { email: emails[0]! }));
  assert.ok(after.access_token, 'and new sign-ins work');
});
