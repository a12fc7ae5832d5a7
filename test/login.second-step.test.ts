import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';
import { beginFlow, enrolTotp, pageOf, secondFactorsOf, submitPassword } from './helpers/mfa.ts';

/**
 * The password's lockout claim also reads whether the account has a factor to ask for next
 * (account_factors.claim_sign_in): a confirmed authenticator app or a passkey. A setup never
 * confirmed, or recovery codes by themselves, ask for nothing.
 */

test('after the right password, a second step is asked only of an account with a confirmed app or a passkey', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const rp = await idp.rp(await idp.clients.create());
  const factors = secondFactorsOf(idp);
  const pool = idp.server.database.pool;

  const withoutFactor = await idp.users.create();
  const unconfirmed = await idp.users.create();
  await factors.startTotp(unconfirmed);
  // The pages never leave recovery codes without a factor (removing the last one removes them):
  // written here directly, they still ask for nothing.
  const recoveryCodesOnly = await idp.users.create();
  await pool.query(
    `insert into account_factors (id, account_id, kind, code_digest) values ($1, $2, 'recovery', 'digest')`,
    [`recovery-${recoveryCodesOnly.id}`, recoveryCodesOnly.id],
  );
  const withApp = await idp.users.create();
  await enrolTotp(idp, withApp);
  const withPasskey = await idp.users.create();
  await pool.query(
    `insert into account_factors (id, account_id, kind, name, credential_id, public_key, sign_count)
     values ($1, $2, 'webauthn', 'Laptop', $3, $4, 0)`,
    [`passkey-${withPasskey.id}`, withPasskey.id, Buffer.from(withPasskey.id), Buffer.from('cose key')],
  );

  // The second-factor page of an account with a passkey and no app has no code form: its heading tells it.
  const pageAfterPassword = async (email: string) => {
    const { flow, step } = await beginFlow(idp, rp);
    const next = await submitPassword(idp, flow.agent, step, email);
    return next.body.includes('<h1>Two-step verification</h1>') ? 'second-factor' : pageOf(next);
  };
  assert.equal(await pageAfterPassword(withoutFactor.email), 'consent');
  assert.equal(await pageAfterPassword(unconfirmed.email), 'consent', 'a setup never confirmed is no factor');
  assert.equal(await pageAfterPassword(recoveryCodesOnly.email), 'consent', 'recovery codes alone are no factor');
  assert.equal(await pageAfterPassword(withApp.email), 'second-factor');
  assert.equal(await pageAfterPassword(withPasskey.email), 'second-factor');
});
