import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createTestDatabase } from './helpers/database.ts';
import { PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

test('two right passwords at once to an account with an older hash both sign in (one rehashes, the other is not refused)', async (t) => {
  const database = await createTestDatabase();
  const env = { LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url') };

  // The account is hashed under the defaults, then the operator raises the cost.
  const before = await startLatchkey(undefined, env, { database });
  const user = await before.users.create();
  await before.close();
  const idp = await startLatchkey(t, { ...env, ARGON2_ITERATIONS: '3' }, { database });
  const rp = await idp.rp(await idp.clients.create());

  // Two browsers (a phone and a laptop) sign in at the same moment.
  const [phone, laptop] = await Promise.all([openLoginPage(idp, rp), openLoginPage(idp, rp)]);
  const [first, second] = await Promise.all([
    postLogin(phone, user.email, PASSWORD),
    postLogin(laptop, user.email, PASSWORD),
  ]);
  assert.deepEqual([first.response.status, second.response.status], [303, 303], 'both signed in');
});
