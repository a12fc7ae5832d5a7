import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuditRow, createAuditStore } from '../src/audit/store.ts';
import { main as cli } from '../src/cli.ts';
import { authorize, CALLBACK, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

async function runCli(idp: Latchkey, args: string[], stdin = ''): Promise<string> {
  let stdout = '';
  let stderr = '';
  const code = await cli(
    [...args, '--json'],
    { DATABASE_URL: idp.config.databaseUrl, LATCHKEY_SECRET_KEY: idp.config.secretKey, LOG_LEVEL: 'silent' },
    {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
      stdin: async () => stdin,
    },
  );
  assert.equal(code, 0, `latchkey ${args.join(' ')}: ${stderr}`);
  return stdout;
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
    await runCli(idp, ['clients', 'create', '--name', 'Audited', '--type', 'confidential', '--redirect-uri', CALLBACK]),
  ) as { client_id: string };
  await runCli(idp, ['clients', 'rotate-secret', created.client_id]);
  const user = JSON.parse(
    await runCli(
      idp,
      ['users', 'create', '--email', 'audited@example.com', '--name', 'Audited', '--password-stdin'],
      `${PASSWORD}\n`,
    ),
  ) as { id: string };
  await runCli(idp, ['users', 'set-password', user.id, '--password-stdin'], 'another long password\n');
  await runCli(idp, ['users', 'disable', user.id]);
  await runCli(idp, ['users', 'unlock', user.id]);
  await runCli(idp, ['keys', 'rotate']);
  await runCli(idp, ['clients', 'delete', created.client_id]);
  await runCli(idp, ['users', 'delete', user.id]);

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
