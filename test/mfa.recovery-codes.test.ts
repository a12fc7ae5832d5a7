import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { ACR } from '../src/mfa/acr.ts';
import { exchange, startLatchkey } from './helpers/latchkey.ts';
import {
  beginFlow,
  enrolTotp,
  finishFlow,
  pageOf,
  secondFactorsOf,
  submitPassword,
  submitSecondFactor,
} from './helpers/mfa.ts';

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

test('a recovery code signs in once (audited, mailed); stored only as keyed digests; regenerating kills the old set', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { recoveryCodes } = await enrolTotp(idp, user);
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10);

  const stored = await query<{ code_digest: string }>(
    idp.database.url,
    "select code_digest from account_factors where account_id = $1 and kind = 'recovery'",
    [user.id],
  );
  assert.equal(stored.length, 10);
  const dump = JSON.stringify(stored);
  for (const code of recoveryCodes) {
    assert.ok(!dump.includes(code) && !dump.includes(code.replace('-', '')), 'no code in clear at rest');
  }

  // Typed as a person might: upper case, no dash.
  const code = recoveryCodes[3]!;
  const first = await beginFlow(idp, rp);
  const page = await submitPassword(idp, first.flow.agent, first.step, user.email);
  assert.equal(pageOf(page), 'second-factor');
  assert.match(page.body, /name="method" value="recovery"/);
  const used = await submitSecondFactor(idp, first.flow.agent, page, code.replace('-', '').toUpperCase(), 'recovery');
  const tokens = await exchange(rp, await finishFlow(idp, first.flow, used, user.email));
  assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(tokens.claims()!.acr, ACR.mfa);

  const mails = await query<{ recipient: string; template: string }>(
    idp.database.url,
    "select recipient, template from mail_outbox where template = 'recovery_code_used'",
    [],
  );
  assert.deepEqual(mails, [{ recipient: user.email, template: 'recovery_code_used' }]);
  const events = await query<{ event: string }>(
    idp.database.url,
    "select event from audit_events where account_id = $1 and event like 'mfa.%' order by id",
    [user.id],
  );
  assert.deepEqual(
    events.map((row) => row.event),
    ['mfa.totp_added', 'mfa.recovery_code_used'],
  );

  // The same code again: refused.
  const second = await beginFlow(idp, rp);
  const again = await submitPassword(idp, second.flow.agent, second.step, user.email);
  const refused = await submitSecondFactor(idp, second.flow.agent, again, code, 'recovery');
  assert.equal(refused.response.status, 401);
  assert.equal(refused.location, undefined);
  assert.equal((await secondFactorsOf(idp).summary(user.id)).recoveryCodes, 9);

  // Regenerated: an old unused code no longer works, a new one does.
  const fresh = await secondFactorsOf(idp).regenerateRecoveryCodes(user.id);
  const old = await submitSecondFactor(idp, second.flow.agent, refused, recoveryCodes[5]!, 'recovery');
  assert.equal(old.response.status, 401);
  const ok = await submitSecondFactor(idp, second.flow.agent, old, fresh[0]!, 'recovery');
  const tokens2 = await exchange(rp, await finishFlow(idp, second.flow, ok, user.email));
  assert.equal(tokens2.claims()!.sub, user.id);
});

test('two uses of one recovery code at once: exactly one is accepted', async (t) => {
  const idp = await startLatchkey(t, { DATABASE_POOL_SIZE: '10' });
  const user = await idp.users.create();
  const { recoveryCodes } = await enrolTotp(idp, user);
  const factors = secondFactorsOf(idp);
  const results = await Promise.all(
    Array.from({ length: 10 }, () => factors.check(user.id, { method: 'recovery', code: recoveryCodes[0]! }, 'en')),
  );
  assert.equal(results.filter((result) => result.ok).length, 1);
});

test('first factors added at the same moment make one set of recovery codes, shown to exactly one of them', async (t) => {
  const idp = await startLatchkey(t, { DATABASE_POOL_SIZE: '10' });
  const user = await idp.users.create();
  const factors = secondFactorsOf(idp);
  const sets = await Promise.all(Array.from({ length: 8 }, () => factors.recoveryCodesForNewFactor(user.id)));
  const shown = sets.filter((codes) => codes !== undefined);
  assert.equal(shown.length, 1);
  assert.equal((await factors.summary(user.id)).recoveryCodes, shown[0]!.length);
});
