import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { createAccountStore } from '../src/accounts/store.ts';
import { ACR, ACR_VALUES } from '../src/mfa/acr.ts';
import { createFactorStore } from '../src/mfa/factor-store.ts';
import { bindingOf } from '../src/mfa/passkeys.ts';
import { createServices } from '../src/services.ts';
import { createAuthenticator, type SoftwarePasskey } from './helpers/authenticator.ts';
import { startLatchkey } from './helpers/latchkey.ts';

/**
 * The passkey service (mfa/passkeys.ts) against real PostgreSQL, with a software authenticator that
 * lets the test choose counters and backup flags and send one assertion twice. The same checks in a
 * real browser are in mfa.passkeys.passwordless.test.ts.
 */

/** The app and address a sign-in comes from: its `login.success` audit row names them. */
const SIGN_IN_FROM = { clientId: 'app', ip: '192.0.2.7' };

async function arrange(t: TestContext, options: { backedUp?: boolean } = {}) {
  const idp = await startLatchkey(t);
  const pool = idp.server.database.pool;
  const { passkeys } = createServices({ config: idp.config, db: pool, secretKey: idp.config.secretKey! });
  const issuer = new URL(idp.issuer);
  const authenticator = createAuthenticator({ rpId: issuer.hostname, origin: issuer.origin, ...options });
  const user = await idp.users.create();
  const account = (await createAccountStore(pool).findById(user.id))!;
  const session = bindingOf('account', 'session-1');
  const creation = await passkeys.registrationOptions(account, session);
  const { passkey, response } = authenticator.register(creation);
  const registered = await passkeys.register({ accountId: user.id, binding: session, name: 'Laptop', response });
  assert.ok(registered.ok, `registered: ${JSON.stringify(registered)}`);
  /** A fresh challenge for sign-in `uid` (passwordless unless `accountId`), answered at `counter`. */
  async function answer(uid: string, counter: number, accountId?: string, key: SoftwarePasskey = passkey) {
    const binding = bindingOf('interaction', uid);
    const options = await passkeys.authenticationOptions({ binding, accountId });
    return { binding, response: authenticator.assert(key, options.challenge, counter), audit: SIGN_IN_FROM };
  }
  return { idp, pool, passkeys, user, passkey, answer, authenticator };
}

test('a user-verified passkey signs in without a password as multi-factor: amr hwk, user, mfa; acr mfa', async (t) => {
  const { passkeys, user, answer, pool } = await arrange(t);
  const signedIn = await passkeys.signIn(await answer('a', 1));
  assert.ok(signedIn.ok, JSON.stringify(signedIn));
  assert.equal(signedIn.accountId, user.id);
  assert.deepEqual(signedIn.amr, ['hwk', 'user', 'mfa'], 'a device-bound passkey is a hardware key');
  assert.equal(signedIn.acr, ACR.mfa);
  assert.ok(ACR_VALUES.includes(signedIn.acr));
  const { rows } = await pool.query(
    `select sign_count, last_used_at is not null as used from account_factors where account_id = $1`,
    [user.id],
  );
  assert.deepEqual(rows, [{ sign_count: 1, used: true }], 'the counter and the last use are stored');
  const audited = await pool.query(
    `select event, client_id, ip, details from audit_events where account_id = $1 and event like 'login.%'`,
    [user.id],
  );
  assert.deepEqual(
    audited.rows,
    [
      {
        event: 'login.success',
        client_id: 'app',
        ip: '192.0.2.7',
        details: { method: 'passkey', amr: ['hwk', 'user', 'mfa'] },
      },
    ],
    'the success is recorded once, by the statement that records it on the account',
  );
});

test('a synced (backed-up) passkey is a software key: amr swk, user, mfa', async (t) => {
  const { passkeys, answer, pool, user } = await arrange(t, { backedUp: true });
  const signedIn = await passkeys.signIn(await answer('a', 0));
  assert.ok(signedIn.ok, JSON.stringify(signedIn));
  assert.deepEqual(signedIn.amr, ['swk', 'user', 'mfa']);
  const { rows } = await pool.query(`select backed_up, device_type from account_factors where account_id = $1`, [
    user.id,
  ]);
  assert.deepEqual(rows, [{ backed_up: true, device_type: 'multiDevice' }]);
});

test('an assertion replayed, or answering another sign-in’s challenge, is refused', async (t) => {
  const { passkeys, answer } = await arrange(t);
  const first = await answer('a', 1);
  assert.ok((await passkeys.signIn(first)).ok);
  const replayed = await passkeys.signIn(first);
  assert.deepEqual(replayed, { ok: false, reason: 'challenge', accountId: undefined }, 'the challenge was used up');

  const other = await answer('b', 2);
  const foreign = await passkeys.signIn({ ...other, binding: bindingOf('interaction', 'c') });
  assert.equal(foreign.ok, false);
  assert.equal(!foreign.ok && foreign.reason, 'challenge', "another sign-in's challenge does not count here");
  assert.equal((await passkeys.signIn(other)).ok, true, 'and the sign-in it was for still can use it');
});

test('the counter rule: a counter that does not increase is refused, and of two uses at once one wins', async (t) => {
  const { passkeys, answer } = await arrange(t);
  assert.ok((await passkeys.signIn(await answer('a', 5))).ok);
  for (const counter of [5, 4, 0]) {
    const result = await passkeys.signIn(await answer('a', counter));
    assert.equal(!result.ok && result.reason, 'not_verified', `counter ${counter} after 5 is refused`);
  }
  // Three uses at once with the same counter: whichever way they interleave, one signs in.
  const results = await Promise.all([
    passkeys.signIn(await answer('b', 6)),
    passkeys.signIn(await answer('c', 6)),
    passkeys.signIn(await answer('d', 6)),
  ]);
  assert.equal(results.filter((result) => result.ok).length, 1, JSON.stringify(results));
});

test('the counter rule is decided by the UPDATE that records the use, whatever was read before', async (t) => {
  const { pool, user } = await arrange(t);
  // Two requests that read the same stored counter both pass the library's check: the store decides.
  const factors = createFactorStore(pool);
  const [stored] = await factors.passkeysOf(user.id);
  const use = (signCount: number) =>
    factors.usePasskey(stored!.id, { signCount, backedUp: false, deviceType: 'singleDevice' });
  assert.equal((await use(0))?.sign_count, 0, '0 after 0: an authenticator without a counter');
  assert.equal((await use(7))?.sign_count, 7);
  assert.equal(await use(7), undefined, 'the same counter again');
  assert.equal(await use(3), undefined, 'a lower one');
  assert.equal(await use(0), undefined, '0 after a counter');
  const raced = await Promise.all([use(8), use(8)]);
  assert.equal(raced.filter(Boolean).length, 1, 'of two at once, one');
});

test('an authenticator without a counter (always 0) keeps working', async (t) => {
  const { passkeys, answer } = await arrange(t);
  for (const uid of ['a', 'b']) assert.ok((await passkeys.signIn(await answer(uid, 0))).ok);
});

test('a disabled or locked account cannot sign in with its passkey; the sign-out cut-off holds', async (t) => {
  const { passkeys, answer, pool, user } = await arrange(t);
  const store = createAccountStore(pool);
  await store.setDisabled(user.id, true);
  assert.deepEqual(await passkeys.signIn(await answer('a', 1)), { ok: false, reason: 'disabled', accountId: user.id });
  await store.setDisabled(user.id, false);

  await pool.query(`update accounts set locked_until = now() + interval '1 hour' where id = $1`, [user.id]);
  assert.deepEqual(await passkeys.signIn(await answer('b', 2)), { ok: false, reason: 'locked', accountId: user.id });
  await store.unlock(user.id);

  // Signed out everywhere just now: the new session's login time is after the cut-off.
  await store.signOut(user.id);
  const signedIn = await passkeys.signIn(await answer('c', 3));
  assert.ok(signedIn.ok);
  const account = (await store.findById(user.id))!;
  assert.ok(signedIn.loginTs > Math.floor(account.sessions_valid_after!.getTime() / 1000));
});

test('as a second factor: only the account’s own passkey answers a challenge made for that account', async (t) => {
  const { idp, passkeys, answer, user, passkey } = await arrange(t);
  const other = await idp.users.create();
  const options = await passkeys.authenticationOptions({ binding: bindingOf('interaction', 'x'), accountId: user.id });
  assert.equal(options.allowCredentials?.length, 1, "the account's passkeys are listed");
  assert.equal(options.allowCredentials?.[0]?.id, passkey.credentialId.toString('base64url'));

  const mine = await answer('a', 1, user.id);
  assert.deepEqual(await passkeys.verifyPasskeyAssertion({ ...mine, accountId: user.id }), {
    ok: true,
    accountId: user.id,
    passkeyId: (await passkeys.list(user.id))[0]!.id,
    methods: ['hwk', 'user'],
  });
  // A challenge made for another account, or a passwordless one, does not serve this account.
  const forOther = await answer('b', 2, other.id);
  const refused = await passkeys.verifyPasskeyAssertion({ ...forOther, accountId: user.id });
  assert.equal(!refused.ok && refused.reason, 'challenge');
  const passwordless = await answer('c', 3);
  const alsoRefused = await passkeys.verifyPasskeyAssertion({ ...passwordless, accountId: user.id });
  assert.equal(!alsoRefused.ok && alsoRefused.reason, 'challenge');
});

test('a registration answers its own challenge once; the same passkey cannot be stored twice; removal is per account', async (t) => {
  const { idp, pool, passkeys, user, authenticator } = await arrange(t);
  const account = (await createAccountStore(pool).findById(user.id))!;
  const binding = bindingOf('account', 'session-2');
  const creation = await passkeys.registrationOptions(account, binding);
  assert.equal(creation.excludeCredentials?.length, 1, 'the passkey already registered is excluded');
  const { response } = authenticator.register(creation);
  assert.ok((await passkeys.register({ accountId: user.id, binding, name: 'Phone', response })).ok);
  assert.deepEqual(await passkeys.register({ accountId: user.id, binding, name: 'Phone', response }), {
    ok: false,
    reason: 'challenge',
  });
  // Another account's registration challenge does not register a passkey for this one.
  const other = await idp.users.create();
  const otherOptions = await passkeys.registrationOptions(
    (await createAccountStore(pool).findById(other.id))!,
    bindingOf('account', 'session-3'),
  );
  const theirs = authenticator.register(otherOptions).response;
  assert.deepEqual(
    await passkeys.register({
      accountId: user.id,
      binding: bindingOf('account', 'session-3'),
      name: 'x',
      response: theirs,
    }),
    { ok: false, reason: 'challenge' },
  );

  const listed = await passkeys.list(user.id);
  assert.deepEqual(
    listed.map((row) => row.name),
    ['Laptop', 'Phone'],
  );
  assert.equal(await passkeys.remove(other.id, listed[0]!.id), undefined, 'another account cannot remove it');
  assert.equal(await passkeys.remove(user.id, listed[0]!.id), 'Laptop');
  assert.deepEqual(
    (await passkeys.list(user.id)).map((row) => row.name),
    ['Phone'],
  );
});
