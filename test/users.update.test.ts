import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/database.ts';
import { holdLock } from './helpers/held-lock.ts';
import { PASSWORD } from './helpers/latchkey.ts';

const latchkey = runCli;

test('two simultaneous `users update` to one email: exactly one wins, the other is told the email is taken', async () => {
  const database = await createTestDatabase();
  const env = {
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'silent',
  };
  const created = await Promise.all(
    ['ada', 'alan', 'taken'].map(async (name) => {
      const run = await latchkey(
        ['users', 'create', '--email', `${name}@example.com`, '--password-stdin', '--json'],
        env,
        `${PASSWORD}\n`,
      );
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as { id: string; email: string };
    }),
  );
  const [ada, alan] = created as [{ id: string }, { id: string }, unknown];

  // Both commands start, then wait at their first read of accounts and go on together.
  const lock = await holdLock(database.url, 'lock table accounts in access exclusive mode');
  const pending = Promise.all(
    [ada, alan].map((user) => latchkey(['users', 'update', user.id, '--email', 'Grace@example.com', '--json'], env)),
  );
  await lock.waitForWaiters(2);
  await lock.release();
  const runs = await pending;

  const winners = runs.filter((run) => run.code === 0);
  const losers = runs.filter((run) => run.code !== 0);
  assert.equal(winners.length, 1, runs.map((run) => run.stderr).join(''));
  assert.equal(losers[0]!.code, 1);
  assert.equal(losers[0]!.stdout, '');
  // The same refusal as `users create` and as an update to an address already in use.
  const [takenOnCreate, takenOnUpdate] = await Promise.all([
    latchkey(['users', 'create', '--email', 'grace@EXAMPLE.com', '--password-stdin'], env, `${PASSWORD}\n`),
    latchkey(['users', 'update', ada.id, '--email', 'taken@example.com'], env),
  ]);
  assert.equal(losers[0]!.stderr, 'latchkey users: an account with this email already exists\n');
  // Creating adds how to go on with the account that has it (a walk-through run twice).
  assert.match(
    takenOnCreate.stderr,
    /^latchkey users: an account with this email already exists: `latchkey users show grace@EXAMPLE\.com` shows it/,
  );
  assert.equal(takenOnUpdate.stderr, losers[0]!.stderr);

  const winner = JSON.parse(winners[0]!.stdout) as { id: string; email: string };
  assert.equal(winner.email, 'Grace@example.com');
  const shown = await latchkey(['users', 'show', 'grace@example.com', '--json'], env);
  assert.equal((JSON.parse(shown.stdout) as { id: string }).id, winner.id, 'the account that won has the email');
});
