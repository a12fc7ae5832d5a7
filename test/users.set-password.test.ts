import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { runCliOn } from './helpers/cli.ts';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

const NEW_PASSWORD = 'a brand new passphrase';

/** `latchkey users set-password` in this process, the new password on stdin. */
async function setPassword(idp: Latchkey, args: string[]) {
  const run = await runCliOn(idp, ['users', 'set-password', ...args], `${NEW_PASSWORD}\n`);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

/** A signed-in browser with a refresh token, then an account locked by someone else's guesses. */
async function signedInThenLocked(idp: Latchkey) {
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ grantTypes: ['authorization_code', 'refresh_token'] }));
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens = await exchange(rp, flow);
  assert.ok(tokens.refresh_token, 'a refresh token was issued');

  const page = await openLoginPage(idp, rp);
  for (let attempt = 0; attempt < idp.config.lockout.threshold; attempt += 1)
    await postLogin(page, user.email, 'a wrong guess here');
  assert.equal((await postLogin(page, user.email, NEW_PASSWORD)).response.status, 401, 'locked');
  return { user, rp, flow, refreshToken: tokens.refresh_token };
}

test('users set-password ends the sessions, revokes the refresh tokens and clears the lockout', async (t) => {
  const idp = await startLatchkey(t);
  const { user, rp, flow, refreshToken } = await signedInThenLocked(idp);

  const output = JSON.parse(await setPassword(idp, [user.email, '--password-stdin', '--json']));
  assert.deepEqual(output, {
    id: user.id,
    password: 'updated',
    locked: false,
    sessions_ended: true,
    revoked_grants: 1,
  });

  await assert.rejects(
    oidc.refreshTokenGrant(rp, refreshToken),
    (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
    'the refresh token issued before the change no longer works',
  );
  const again = await authorize(idp, rp, { email: user.email, password: NEW_PASSWORD, agent: flow.agent });
  assert.equal(again.sawLogin, true, 'the browser session ended: the person signs in again');
  assert.ok(again.callback.searchParams.get('code'), 'with the new password, at once: the lock is gone');
});

test('users set-password --keep-sessions leaves sessions and refresh tokens alone, and still clears the lockout', async (t) => {
  const idp = await startLatchkey(t);
  const { user, rp, flow, refreshToken } = await signedInThenLocked(idp);

  const output = await setPassword(idp, [user.id, '--password-stdin', '--keep-sessions']);
  assert.match(output, /sessions and tokens kept/);

  const refreshed = await oidc.refreshTokenGrant(rp, refreshToken);
  assert.ok(refreshed.access_token, 'the refresh token still works');
  const again = await authorize(idp, rp, { email: user.email, agent: flow.agent });
  assert.equal(again.sawLogin, false, 'the browser session is still signed in');

  const page = await openLoginPage(idp, rp);
  assert.equal(
    (await postLogin(page, user.email, NEW_PASSWORD)).response.status,
    303,
    'the new password signs in: the lock is gone',
  );
});
