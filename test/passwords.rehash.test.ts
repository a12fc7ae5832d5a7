import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { createTestDatabase } from './helpers/database.ts';
import { PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

async function storedHash(url: string, id: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ password_hash: string }>('select password_hash from accounts where id = $1', [id]))
      .rows[0]!.password_hash;
  } finally {
    await client.end();
  }
}

test('an account hashed with older ARGON2_* settings is rehashed with the current ones at its next successful sign-in', async (t) => {
  const database = await createTestDatabase();
  const env = { LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url') };

  // The account is created under the defaults (t=2)...
  const before = await startLatchkey(undefined, env, { database });
  const user = await before.users.create();
  await before.close();
  const old = await storedHash(database.url, user.id);
  assert.match(old, /\$m=19456,p=1,t=2\$/);

  // ...then the operator raises the cost.
  const idp = await startLatchkey(t, { ...env, ARGON2_ITERATIONS: '3', ARGON2_MEMORY_KIB: '20480' }, { database });
  const rp = await idp.rp(await idp.clients.create());
  assert.equal(
    (await postLogin(await openLoginPage(idp, rp), user.email, 'a wrong password here')).response.status,
    401,
  );
  assert.equal(await storedHash(database.url, user.id), old, 'a failed sign-in changes nothing');

  assert.equal((await postLogin(await openLoginPage(idp, rp), user.email, PASSWORD)).response.status, 303);
  const rehashed = await storedHash(database.url, user.id);
  assert.match(rehashed, /^\$argon2id\$v=19\$m=20480,p=1,t=3\$/, 'rehashed with the current settings');

  assert.equal(
    (await postLogin(await openLoginPage(idp, rp), user.email, PASSWORD)).response.status,
    303,
    'the new hash verifies',
  );
  assert.equal(await storedHash(database.url, user.id), rehashed, 'and is kept: no rehash when current');
});
