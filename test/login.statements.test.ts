import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PASSWORD, startLatchkey, statementsDuring } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

/**
 * What a sign-in writes, and in how many statements: the right password's success is written
 * with its `login.success` audit row by one statement (accounts.record_success_audited), so the
 * two commit together; a first-party app's implied approval is read, remembered and recorded by
 * one statement as the authorization resumes (remembered_consents.remember_implied).
 */

test('the password POST counts the attempt with the factors read, then writes the success with its audit row', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const page = await openLoginPage(idp, await idp.rp(client));
  let status = 0;
  const statements = await statementsDuring(idp, async () => {
    status = (await postLogin(page, user.email, PASSWORD)).response.status;
  });
  assert.equal(status, 303);
  assert.deepEqual(statements, [
    'oidc_payloads.find_interaction',
    'account_factors.claim_sign_in',
    'accounts.record_success_audited',
    'oidc_payloads.upsert_many',
  ]);
  const { rows } = await idp.server.database.pool.query(
    `select account_id, client_id, ip from audit_events where event = 'login.success'`,
  );
  assert.deepEqual(rows, [{ account_id: user.id, client_id: client.clientId, ip: '127.0.0.1' }]);
});

test('the resume of a first-party sign-in remembers and records the implied approval in one statement', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const page = await openLoginPage(idp, await idp.rp(client), { scope: 'openid profile' });
  const resume = (await postLogin(page, user.email, PASSWORD)).response.headers.get('location')!;
  let location = '';
  const statements = await statementsDuring(idp, async () => {
    location = (await page.agent.request(new URL(resume, idp.issuer))).headers.get('location') ?? '';
  });
  assert.ok(new URL(location).searchParams.get('code'), location);
  const consentStatements = statements.filter((name) => name.startsWith('remembered_consents.'));
  assert.deepEqual(consentStatements, ['remembered_consents.remember_implied']);
  assert.equal(statements.includes('audit_events.insert'), false, 'consent.implied rides in that statement');
  const { rows } = await idp.server.database.pool.query(
    `select scopes from remembered_consents where account_id = $1 and client_id = $2`,
    [user.id, client.clientId],
  );
  assert.deepEqual(rows, [{ scopes: ['openid', 'profile'] }]);
});

test('a success whose audit row cannot be written is no success: the account is not marked signed in', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const pool = idp.server.database.pool;
  await pool.query(`create function refuse_login_success() returns trigger language plpgsql as $$
    begin if new.event = 'login.success' then raise exception 'audit refused'; end if; return new; end $$`);
  await pool.query(`create trigger refuse_login_success before insert on audit_events
    for each row execute function refuse_login_success()`);
  const page = await openLoginPage(idp, await idp.rp(client));
  const { response } = await postLogin(page, user.email, PASSWORD);
  assert.equal(response.status, 500);
  assert.equal(response.headers.get('location'), null);
  const { rows } = await pool.query(`select last_login_at, failed_logins from accounts where id = $1`, [user.id]);
  assert.deepEqual(rows, [{ last_login_at: null, failed_logins: 1 }], 'the attempt stays counted, no success');
});
