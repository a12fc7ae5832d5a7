import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAccounts } from '../src/accounts/accounts.ts';
import { createPasswordRules } from '../src/accounts/password-rules.ts';
import { createPasswordHasher, MAX_PASSWORD_LENGTH, type PasswordHasher } from '../src/accounts/passwords.ts';
import { createAccountStore } from '../src/accounts/store.ts';
import { createFactorStore } from '../src/mfa/factor-store.ts';
import { accountTransaction } from '../src/services.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { loginAlert, openLoginPage, postLogin } from './helpers/security.ts';

/** The real hasher, counting how many passwords reach argon2. */
function counting(hasher: PasswordHasher) {
  const seen = { hash: 0, verify: 0 };
  const wrapped: PasswordHasher = {
    hash: (password) => {
      seen.hash += 1;
      return hasher.hash(password);
    },
    verify: (hash, password) => {
      seen.verify += 1;
      return hasher.verify(hash, password);
    },
    verifyDummy: (password) => {
      seen.verify += 1;
      return hasher.verifyDummy(password);
    },
    needsRehash: (hash) => hasher.needsRehash(hash),
  };
  return { seen, wrapped };
}

test('passwords over 1024 characters are refused before any hashing', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const { seen, wrapped } = counting(createPasswordHasher(idp.config.argon2));
  const accounts = createAccounts({
    store: createAccountStore(idp.server.database.pool),
    claimAttempt: createFactorStore(idp.server.database.pool).claimSignIn,
    passwords: wrapped,
    rules: createPasswordRules({ minLength: idp.config.passwordMinLength }),
    lockout: idp.config.lockout,
    transaction: accountTransaction(idp.server.database.pool),
  });
  const long = 'x'.repeat(MAX_PASSWORD_LENGTH + 1);

  assert.deepEqual(await accounts.create({ email: 'long@example.com', name: 'Long', password: long }), {
    ok: false,
    reason: 'password_too_long',
  });
  assert.deepEqual(await accounts.setPassword(user.id, long), { ok: false, reason: 'password_too_long' });
  assert.deepEqual(await accounts.signIn(user.email, long), { ok: false, reason: 'bad_credentials' });
  assert.deepEqual(seen, { hash: 0, verify: 0 }, 'argon2 never saw the long password');

  const exactly = 'y'.repeat(MAX_PASSWORD_LENGTH);
  assert.equal((await accounts.setPassword(user.id, exactly)).ok, true, '1024 characters are fine');
  assert.deepEqual(
    { ...(await accounts.signIn(user.email, exactly)), loginTs: 0 },
    { ok: true, accountId: user.id, loginTs: 0, audited: false },
  );

  // Over the login form: a long password is an ordinary wrong password, a huge form is 413; never a 5xx.
  const rp = await idp.rp(await idp.clients.create());
  const page = await openLoginPage(idp, rp);
  const viaForm = await postLogin(page, user.email, 'z'.repeat(5000));
  assert.equal(viaForm.response.status, 401);
  assert.match(loginAlert(viaForm.body) ?? '', /incorrect/);
  const huge = await postLogin(page, user.email, 'z'.repeat(64 * 1024));
  assert.equal(huge.response.status, 413);
  assert.equal((await postLogin(page, user.email, exactly)).response.status, 303, 'the form still works');
});

test('the hashing queue runs many hashes with a small concurrency and every result verifies', async () => {
  const hasher = createPasswordHasher({ memoryKib: 19456, iterations: 2, concurrency: 2 });
  const passwords = Array.from({ length: 12 }, (_, i) => `password number ${i}`);
  const hashes = await Promise.all(passwords.map((password) => hasher.hash(password)));
  const checks = await Promise.all(passwords.map((password, i) => hasher.verify(hashes[i]!, password)));
  assert.deepEqual(
    checks,
    passwords.map(() => true),
  );
  const crossed = await Promise.all(
    passwords.map((password, i) => hasher.verify(hashes[(i + 1) % hashes.length]!, password)),
  );
  assert.deepEqual(
    crossed,
    passwords.map(() => false),
  );
  for (const hash of hashes) {
    assert.match(hash, /^\$argon2id\$v=19\$/);
    assert.match(hash, /m=19456/);
    assert.match(hash, /t=2/);
  }
});
