import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { runCliOn } from './helpers/cli.ts';
import { authorize, CALLBACK, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';

/** `latchkey users <args>` in this process (a new password on stdin when one is asked for). */
async function users(idp: Latchkey, args: string[]): Promise<void> {
  const run = await runCliOn(idp, ['users', ...args], 'a brand new passphrase\n');
  assert.equal(run.code, 0, run.stderr);
}

/**
 * The engine saves a session again at the end of every request that loaded it, so a request in
 * flight while the account is signed out writes the deleted session back. An attacker holding a
 * stolen session cookie keeps /authorize busy while the administrator acts; afterwards the
 * session must not sign in and the refresh token issued before must not refresh.
 */
for (const command of ['set-password', 'revoke-grants'] as const) {
  test(`users ${command} signs out a session that has requests in flight`, async (t) => {
    const idp = await startLatchkey(t);
    const user = await idp.users.create();
    const rp = await idp.rp(await idp.clients.create({ grantTypes: ['authorization_code', 'refresh_token'] }));
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
    const { refresh_token: refreshToken } = await exchange(rp, flow);
    assert.ok(refreshToken);

    const busy = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 's',
      nonce: 'n',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    let signedOut = false;
    const attacker = async () => {
      while (!signedOut) await (await flow.agent.request(busy)).arrayBuffer();
    };
    const args = command === 'set-password' ? [command, user.id, '--password-stdin'] : [command, user.id];
    await Promise.all([
      ...Array.from({ length: 8 }, attacker),
      users(idp, args).finally(() => {
        signedOut = true;
      }),
    ]);

    const silent = await authorize(idp, rp, { email: user.email, prompt: 'none', agent: flow.agent });
    assert.equal(silent.callback.searchParams.get('error'), 'login_required', 'the session no longer signs in');
    await assert.rejects(
      oidc.refreshTokenGrant(rp, refreshToken),
      oauthError('invalid_grant'),
      'the refresh token issued before no longer refreshes',
    );
  });
}
