import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  enrolTotp,
  pageOf,
  postSecondFactor,
  submitPassword,
  submitSecondFactor,
  totpCode,
} from './helpers/mfa.ts';

test("wrong codes count toward the account's lockout: locked, even the right code and the right password are refused", async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '3', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { secret, recoveryCodes } = await enrolTotp(idp, user);

  const { flow, step } = await beginFlow(idp, rp);
  let page = await submitPassword(idp, flow.agent, step, user.email);
  for (const wrong of ['000000', '111111', 'abcde-fghjk']) {
    page = await submitSecondFactor(idp, flow.agent, page, wrong, wrong.includes('-') ? 'recovery' : 'totp');
    assert.equal(page.response.status, 401);
  }
  await awayFromStepEnd();
  const right = await submitSecondFactor(idp, flow.agent, page, totpCode(secret));
  assert.equal(right.response.status, 401, 'locked: the right code is refused too');
  assert.match(right.body, /Too many wrong codes/);
  const recovery = await submitSecondFactor(idp, flow.agent, right, recoveryCodes[0]!, 'recovery');
  assert.equal(recovery.response.status, 401, 'and a recovery code');

  // The lock is the account's: the password is refused too, as after wrong passwords.
  const other = await beginFlow(idp, rp);
  const refused = await submitPassword(idp, other.flow.agent, other.step, user.email);
  assert.equal(refused.response.status, 401);
  assert.equal(pageOf(refused), 'login');

  const { rows } = await idp.server.database.pool.query(
    'select lockouts, locked_until > now() as locked from accounts where id = $1',
    [user.id],
  );
  assert.deepEqual(rows[0], { lockouts: 1, locked: true });
  const { rows: unused } = await idp.server.database.pool.query(
    "select count(*)::int as n from account_factors where account_id = $1 and kind = 'recovery' and used_at is null",
    [user.id],
  );
  assert.equal(unused[0].n, 10, 'the recovery code was not spent while locked');
});

test('wrong codes sent at once from many browsers lock the account once, counted before they are checked', async (t) => {
  // Each right password counts too until its second step succeeds: 8 of them, then 8 codes at once.
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '12', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  await enrolTotp(idp, user);
  // One after the other: passwords sent at once would lock the account by themselves.
  const pages = [];
  for (let i = 0; i < 8; i += 1) {
    const { flow, step } = await beginFlow(idp, rp);
    const page = await submitPassword(idp, flow.agent, step, user.email);
    assert.equal(pageOf(page), 'second-factor');
    pages.push({ agent: flow.agent, page });
  }
  const statuses = (
    await Promise.all(pages.map(({ agent, page }, i) => postSecondFactor(idp, agent, page, String(100000 + i))))
  ).map((response) => response.status);
  assert.deepEqual(new Set(statuses), new Set([401]));
  const { rows } = await idp.server.database.pool.query(
    'select lockouts, failed_logins, locked_until > now() as locked from accounts where id = $1',
    [user.id],
  );
  assert.deepEqual(rows[0], { lockouts: 1, failed_logins: 0, locked: true });
});

test('typing the password again does not reset the count of wrong codes: guesses at the code add up to one lockout', async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '5', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  await enrolTotp(idp, user);
  const statuses: number[] = [];
  // Two rounds of "right password, two wrong codes": 6 attempts, past the threshold of 5.
  for (let round = 0; round < 2; round += 1) {
    const { flow, step } = await beginFlow(idp, rp);
    let page = await submitPassword(idp, flow.agent, step, user.email);
    statuses.push(page.response.status);
    for (const wrong of ['000000', '111111']) {
      page = await submitSecondFactor(idp, flow.agent, page, wrong);
      statuses.push(page.response.status);
    }
  }
  assert.deepEqual(statuses, [200, 401, 401, 200, 401, 401]);
  const { rows } = await idp.server.database.pool.query(
    'select lockouts, locked_until > now() as locked from accounts where id = $1',
    [user.id],
  );
  assert.deepEqual(rows[0], { lockouts: 1, locked: true });

  // A right code after a right password, on an account not locked, resets the count.
  const other = await idp.users.create();
  const enrolled = await enrolTotp(idp, other);
  const { flow, step } = await beginFlow(idp, rp);
  const page = await submitPassword(idp, flow.agent, step, other.email);
  await submitSecondFactor(idp, flow.agent, page, '000000');
  await awayFromStepEnd();
  await submitSecondFactor(idp, flow.agent, page, totpCode(enrolled.secret));
  const { rows: after } = await idp.server.database.pool.query('select failed_logins from accounts where id = $1', [
    other.id,
  ]);
  assert.equal(after[0].failed_logins, 0);
});
