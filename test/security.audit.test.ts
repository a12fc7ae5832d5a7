import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuditRow, createAuditStore } from '../src/audit/store.ts';
import { runCliOn } from './helpers/cli.ts';
import { authorize, CALLBACK, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

/** `latchkey <args> --json` on the server's database; it must succeed, and its output is returned. */
async function latchkeyJson(idp: Latchkey, args: string[], stdin = ''): Promise<string> {
  const run = await runCliOn(idp, [...args, '--json'], stdin);
  assert.equal(run.code, 0, `latchkey ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

test('sign-ins, lockouts and consent land in audit_events, with ids and never the email', async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '2' });
  const audit = createAuditStore(idp.server.database.pool);
  const user = await idp.users.create();
  const victim = await idp.users.create();
  const client = await idp.clients.create();
  const rp = await idp.rp(client);

  await authorize(idp, rp, { email: user.email, prompt: 'consent' });
  await authorize(idp, rp, { email: user.email, prompt: 'consent', consent: 'deny' });
  const page = await openLoginPage(idp, rp);
  assert.equal((await postLogin(page, 'nobody@example.com', 'wrong password!')).response.status, 401);
  assert.equal((await postLogin(page, victim.email, 'wrong password!')).response.status, 401);
  assert.equal((await postLogin(page, victim.email, 'wrong password!')).response.status, 401);
  assert.equal((await postLogin(page, victim.email, PASSWORD)).response.status, 401, 'locked');

  const rows = await audit.latest(100);
  const of = (event: string, accountId?: string) =>
    rows.filter((row) => row.event === event && (accountId === undefined || row.account_id === accountId));
  assert.equal(of('login.success', user.id).length, 2, 'two sign-ins');
  assert.equal(of('consent.given', user.id).length, 1);
  assert.equal(of('consent.denied', user.id).length, 1);
  assert.equal(of('login.failed', victim.id).length, 2, 'a wrong password, then the attempt while locked');
  assert.equal(of('login.locked', victim.id).length, 1);
  const unknown = of('login.failed').filter((row) => row.account_id === null);
  assert.equal(unknown.length, 1, 'the unknown email is a failure without an account');
  for (const row of [...of('login.success'), ...of('login.failed'), ...of('consent.given')]) {
    assert.equal(row.client_id, client.clientId, `${row.event} names the client`);
    assert.equal(row.ip, '127.0.0.1', `${row.event} records the address`);
  }
  const text = JSON.stringify(rows);
  for (const email of [user.email, victim.email, 'nobody@example.com'])
    assert.ok(!text.includes(email), 'no email in the audit trail');
  assert.ok(!text.includes(PASSWORD) && !text.includes('wrong password!'), 'no password in the audit trail');
});

test('the CLI records client, user and key changes in audit_events', async (t) => {
  const idp = await startLatchkey(t);
  const audit = createAuditStore(idp.server.database.pool);
  const created = JSON.parse(
    await latchkeyJson(idp, [
      'clients',
      'create',
      '--name',
      'Audited',
      '--type',
      'confidential',
      '--redirect-uri',
      CALLBACK,
    ]),
  ) as { client_id: string };
  await latchkeyJson(idp, ['clients', 'rotate-secret', created.client_id]);
  const user = JSON.parse(
    await latchkeyJson(
      idp,
      ['users', 'create', '--email', 'audited@example.com', '--name', 'Audited', '--password-stdin'],
      `${PASSWORD}\n`,
    ),
  ) as { id: string };
  await latchkeyJson(idp, ['users', 'set-password', user.id, '--password-stdin'], 'another long password\n');
  await latchkeyJson(idp, ['users', 'disable', user.id]);
  await latchkeyJson(idp, ['users', 'unlock', user.id]);
  await latchkeyJson(idp, ['keys', 'rotate']);
  await latchkeyJson(idp, ['clients', 'delete', created.client_id]);
  await latchkeyJson(idp, ['users', 'delete', user.id]);

  const rows: AuditRow[] = await audit.latest(100);
  const events = rows.map((row) => `${row.event}:${row.client_id ?? row.account_id ?? ''}`);
  for (const expected of [
    `client.created:${created.client_id}`,
    `client.secret_rotated:${created.client_id}`,
    `client.deleted:${created.client_id}`,
    `user.created:${user.id}`,
    `user.password_set:${user.id}`,
    `user.disabled:${user.id}`,
    `user.unlocked:${user.id}`,
    `user.deleted:${user.id}`,
    'key.rotated:',
  ]) {
    assert.ok(events.includes(expected), `${expected} is recorded (have ${events.join(', ')})`);
  }
  assert.ok(!JSON.stringify(rows).includes(PASSWORD), 'no password in the audit trail');
});
