import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';

test('a restarted server keeps its keys, grants and sessions: PostgreSQL is the only state', async (t) => {
  // Registered before the first server's own cleanup, so the second server stops before the
  // first one drops the database they share (after-hooks run in registration order).
  let second: Latchkey | undefined;
  t.after(() => second?.close());

  const first = await startLatchkey(t);
  const user = await first.users.create();
  const client = await first.clients.create({
    type: 'confidential',
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const jwksBefore = await (await fetch(`${first.issuer}/jwks`)).json();
  const rp = await first.rp(client);
  const flow = await authorize(first, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens = await exchange(rp, flow);
  assert.ok(tokens.refresh_token, 'refresh token issued for offline_access');

  await first.server.close(2000);
  await assert.rejects(fetch(`${first.issuer}/healthz`), 'the first server is down');

  second = await startLatchkey(
    t,
    { LATCHKEY_SECRET_KEY: first.config.secretKey! },
    { database: first.database, port: first.server.port },
  );
  assert.equal(second.issuer, first.issuer);

  assert.deepEqual(await (await fetch(`${second.issuer}/jwks`)).json(), jwksBefore, 'same signing keys');

  const rpAfter = await second.rp(client);
  const refreshed = await oidc.refreshTokenGrant(rpAfter, tokens.refresh_token);
  assert.ok(refreshed.access_token, 'the grant survived the restart');
  assert.equal(refreshed.claims()?.sub, user.id);
  const info = await oidc.fetchUserInfo(rpAfter, refreshed.access_token, user.id);
  assert.equal(info.sub, user.id);

  const again = await authorize(second, rpAfter, { email: user.email, agent: flow.agent, scope: 'openid' });
  assert.equal(again.sawLogin, false, 'the session cookie from before the restart still signs the user in');
  assert.equal(again.sawConsent, false, 'consent remembered');
  assert.equal((await exchange(rpAfter, again)).claims()?.sub, user.id);
});
