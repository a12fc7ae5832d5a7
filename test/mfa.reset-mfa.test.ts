import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { ACR } from '../src/mfa/acr.ts';
import { runCliOn } from './helpers/cli.ts';
import { exchange, startLatchkey } from './helpers/latchkey.ts';
import { beginFlow, enrolTotp, finishFlow, pageOf, submitPassword } from './helpers/mfa.ts';

test('users reset-mfa removes every factor (audited, the person is mailed); users show lists kinds, never secrets', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { secret, recoveryCodes } = await enrolTotp(idp, user);

  const shown = await runCliOn(idp, ['users', 'show', user.email, '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout).factors, ['totp', 'recovery codes (10 unused)']);
  const text = await runCliOn(idp, ['users', 'show', user.id]);
  for (const output of [shown.stdout, text.stdout]) {
    assert.ok(!output.includes(secret) && !recoveryCodes.some((code) => output.includes(code)), 'no secret printed');
  }

  const reset = await runCliOn(idp, ['users', 'reset-mfa', user.email, '--json']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.deepEqual(JSON.parse(reset.stdout), { id: user.id, removed: ['recovery', 'totp'] });
  assert.deepEqual(JSON.parse((await runCliOn(idp, ['users', 'show', user.id, '--json'])).stdout).factors, []);

  const db = new pg.Client({ connectionString: idp.database.url });
  await db.connect();
  const factors = await db.query('select 1 from account_factors where account_id = $1', [user.id]);
  assert.equal(factors.rowCount, 0);
  const audit = await db.query("select details from audit_events where account_id = $1 and event = 'mfa.reset'", [
    user.id,
  ]);
  assert.deepEqual(audit.rows, [{ details: { removed: ['recovery', 'totp'] } }]);
  const mail = await db.query("select recipient from mail_outbox where template = 'mfa_reset'");
  assert.deepEqual(mail.rows, [{ recipient: user.email }]);
  await db.end();

  // A password alone signs in again.
  const { flow, step } = await beginFlow(idp, rp);
  const after = await submitPassword(idp, flow.agent, step, user.email);
  assert.notEqual(pageOf(after), 'second-factor');
  const tokens = await exchange(rp, await finishFlow(idp, flow, after, user.email));
  assert.equal(tokens.claims()!.acr, ACR.pwd);

  const missing = await runCliOn(idp, ['users', 'reset-mfa', 'nobody@example.com']);
  assert.notEqual(missing.code, 0);
});
