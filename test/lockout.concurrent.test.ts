import assert from 'node:assert/strict';
import { test } from 'node:test';
import argon2 from 'argon2';
import pg from 'pg';
import { type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { type LoginPage, openLoginPage, postLogin } from './helpers/security.ts';

const WRONG = 'not the password at all';
const BROWSERS = 40;

async function accountRow(idp: Latchkey, id: string) {
  const client = new pg.Client({ connectionString: idp.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ password_hash: string; lockouts: number; locked_until: Date | null }>(
      'select password_hash, lockouts, locked_until from accounts where id = $1',
      [id],
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

/**
 * Counts the argon2 verifications against one stored hash: the guesses actually checked. The
 * server runs in this process and its hasher calls argon2.verify on the module object, so the
 * count sees every check, and not the dummy verifications a refused attempt spends.
 */
function countChecksAgainst(t: { after: (fn: () => void) => void }, hash: string) {
  const seen = { checks: 0 };
  const original = argon2.verify;
  argon2.verify = (digest, ...rest) => {
    if (digest === hash) seen.checks += 1;
    return original(digest, ...rest);
  };
  t.after(() => {
    argon2.verify = original;
  });
  return seen;
}

/** A login form post from its own address: behind the trusted proxy, X-Forwarded-For is the client. */
function postFrom(page: LoginPage, address: string, email: string, password: string) {
  return page.agent.request(page.loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
    body: new URLSearchParams({ csrf: page.csrf, email, password }).toString(),
  });
}

test('40 browsers on 40 addresses guessing at once get at most LOCKOUT_THRESHOLD guesses checked, then the account is locked', async (t) => {
  // One attempt per address, under a per-address limit of 2: the lockout alone must stop them.
  const idp = await startLatchkey(t, { TRUST_PROXY: 'true', RATE_LIMIT_LOGIN_PER_MINUTE: '2' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create());
  const pages = await Promise.all(Array.from({ length: BROWSERS }, () => openLoginPage(idp, rp)));
  const seen = countChecksAgainst(t, (await accountRow(idp, user.id)).password_hash);

  // The right password goes first: the order an attacker who has it would want.
  const responses = await Promise.all(
    pages.map((page, i) => postFrom(page, `10.0.${i}.1`, user.email, i === 0 ? PASSWORD : WRONG)),
  );
  const statuses = responses.map((response) => response.status);
  await Promise.all(responses.map((response) => response.body?.cancel()));

  assert.ok(!statuses.includes(429), 'no attempt was stopped by the per-address limit');
  assert.ok(
    seen.checks > 0 && seen.checks <= idp.config.lockout.threshold,
    `${seen.checks} guesses were checked against the hash (threshold ${idp.config.lockout.threshold})`,
  );
  assert.equal(
    statuses.filter((status) => status === 303).length <= 1,
    true,
    'only the right password can have signed in',
  );
  assert.equal(statuses.filter((status) => status === 401).length >= BROWSERS - 1, true);

  const row = await accountRow(idp, user.id);
  assert.ok(row.locked_until && row.locked_until > new Date(), 'the account is locked after the burst');
  assert.equal(row.lockouts, 1, 'one lock, counted once, however many guesses arrived together');

  const after = await postLogin(await openLoginPage(idp, rp), user.email, PASSWORD);
  assert.equal(after.response.status, 401, 'the right password is refused while locked');
  assert.ok(seen.checks <= idp.config.lockout.threshold, 'and it was not checked against the hash');
});
