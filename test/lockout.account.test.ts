import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { runCliOn } from './helpers/cli.ts';
import { type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { loginAlert, openLoginPage, postLogin } from './helpers/security.ts';

const WRONG = 'not the password at all';

async function auditEvents(idp: Latchkey, accountId: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: idp.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ event: string }>(
      'select event from audit_events where account_id = $1 order by id',
      [accountId],
    );
    return rows.map((row) => row.event);
  } finally {
    await client.end();
  }
}

async function lockAccount(idp: Latchkey, email: string) {
  const rp = await idp.rp(await idp.clients.create());
  const page = await openLoginPage(idp, rp);
  for (let attempt = 1; attempt <= idp.config.lockout.threshold; attempt += 1) {
    const { response } = await postLogin(page, email, WRONG);
    assert.equal(response.status, 401, `wrong password ${attempt} is refused`);
  }
  return { rp, page };
}

test('ten wrong passwords lock the account; the right one is then refused with the words an unknown email gets', async (t) => {
  const idp = await startLatchkey(t);
  assert.equal(idp.config.lockout.threshold, 10, 'default threshold');
  const user = await idp.users.create();
  const { rp, page } = await lockAccount(idp, user.email);

  const locked = await postLogin(page, user.email, PASSWORD);
  assert.equal(locked.response.status, 401, 'right password refused while locked');
  assert.equal(locked.response.headers.get('location'), null);

  const unknown = await postLogin(await openLoginPage(idp, rp), 'nobody-here@example.com', PASSWORD);
  assert.equal(unknown.response.status, 401);
  const wrong = await postLogin(await openLoginPage(idp, rp), (await idp.users.create()).email, WRONG);
  assert.ok(loginAlert(locked.body), 'an error is shown');
  assert.equal(loginAlert(locked.body), loginAlert(unknown.body), 'locked reads exactly like an unknown email');
  assert.equal(loginAlert(locked.body), loginAlert(wrong.body), 'and like a wrong password');

  const events = await auditEvents(idp, user.id);
  assert.equal(
    events.filter((e) => e === 'login.failed').length,
    10,
    'nine failures, then the locked attempt, are audited as failures',
  );
  assert.equal(events.filter((e) => e === 'login.locked').length, 1, 'the lock itself is audited once');
});

test('a lock expires after LOCKOUT_SECONDS and the right password works again', async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_SECONDS: '2' });
  const user = await idp.users.create();
  const { page } = await lockAccount(idp, user.email);
  assert.equal((await postLogin(page, user.email, PASSWORD)).response.status, 401, 'locked');

  await new Promise((resolve) => setTimeout(resolve, 2500));
  const after = await postLogin(page, user.email, PASSWORD);
  assert.equal(after.response.status, 303, 'signed in once the lock has expired');
  assert.match(after.response.headers.get('location') ?? '', /\/authorize\//);
});

test('an administrator unlocks the account with `latchkey users unlock`', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const { page } = await lockAccount(idp, user.email);
  assert.equal((await postLogin(page, user.email, PASSWORD)).response.status, 401, 'locked');

  const { code, stdout } = await runCliOn(idp, ['users', 'unlock', user.email, '--json']);
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(stdout), { id: user.id, locked: false });

  const after = await postLogin(page, user.email, PASSWORD);
  assert.equal(after.response.status, 303, 'signed in after the unlock');
  assert.ok((await auditEvents(idp, user.id)).includes('user.unlocked'), 'the unlock is audited');
});
