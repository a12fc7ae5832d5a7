import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { createOutboxStore } from '../src/mail/outbox-store.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { createTestDatabase } from './helpers/database.ts';
import { newToken } from './helpers/outbox.ts';
import { type Run, runNode, stderrLines } from './helpers/processes.ts';
import { until } from './helpers/smtp.ts';
import { spawnServer } from './helpers/spawned-server.ts';

const latchkey = (args: string[], env: Record<string, string>) =>
  runNode(['bin/latchkey.js', ...args], env, { timeoutMs: 60_000 });

function ok(run: Run): string {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return run.stdout;
}

test('development without SMTP_URL: the server logs the mail with its link, and mail list / mail show print it', async (t) => {
  const server = await spawnServer(t, { env: { NODE_ENV: 'development', WEB_CONCURRENCY: '1' } });
  const env = {
    DATABASE_URL: server.database.url,
    LATCHKEY_SECRET_KEY: server.secretKey,
    NODE_ENV: 'development',
    ISSUER: server.url,
    DATABASE_POOL_SIZE: '2',
  };
  const token = newToken();
  const link = `${server.url}/reset-password?token=${token}`;
  const pool = new pg.Pool({ connectionString: server.database.url, max: 1 });
  let id: number;
  try {
    ({ id } = await createOutboxStore(pool, createSecretBox(server.secretKey)).enqueue({
      recipient: 'frank@example.com',
      template: 'password_reset',
      locale: 'en',
      data: { name: 'Frank', resetPath: `/reset-password?token=${token}`, expiresInMinutes: 30 },
    }));
  } finally {
    await pool.end();
  }

  // The log transport: recipient, subject and the link, which is what a developer follows.
  const line = await until(async () =>
    server
      .output()
      .split('\n')
      .find((l) => l.includes('"event":"mail.logged"')),
  );
  const logged = JSON.parse(line);
  assert.equal(logged.mail_id, id);
  assert.equal(logged.to, 'frank@example.com');
  assert.equal(logged.subject, 'Reset your Latchkey password');
  assert.deepEqual(logged.links, [link]);
  assert.ok(logged.msg.includes(link));
  await until(async () => server.output().includes('"event":"mail.sent"'));

  const listed = JSON.parse(ok(await latchkey(['mail', 'list', '--json'], env)));
  assert.equal(listed.length, 1);
  assert.deepEqual(
    { id: listed[0].id, recipient: listed[0].recipient, template: listed[0].template, state: listed[0].state },
    { id, recipient: 'frank@example.com', template: 'password_reset', state: 'sent' },
  );
  assert.equal(listed[0].data, undefined, 'the list never prints the data');
  const table = ok(await latchkey(['mail', 'list'], env));
  assert.match(table, new RegExp(`^${id}\\s+frank@example\\.com\\s+password_reset\\s+sent`, 'm'));

  const shown = ok(await latchkey(['mail', 'show', String(id)], env));
  assert.match(shown, /^to:\s+frank@example\.com$/m);
  assert.match(shown, /^subject:\s+Reset your Latchkey password$/m);
  assert.ok(shown.includes(link), 'mail show prints the text part with the link');
  const shownJson = JSON.parse(ok(await latchkey(['mail', 'show', String(id), '--json'], env)));
  assert.deepEqual(shownJson.links, [link]);
  assert.ok(shownJson.text.includes(link) && shownJson.html.includes(link));

  for (const [args, code, pattern] of [
    [['mail', 'show', String(id + 1000)], 1, /no mail/],
    [['mail', 'show', 'abc'], 2, /id must be a mail id/],
    [['mail', 'list', '--state', 'lost'], 2, /--state must be/],
    [['mail', 'frobnicate'], 2, /unknown command: mail frobnicate/],
  ] as const) {
    const run = await latchkey([...args], env);
    assert.equal(run.code, code, run.stderr);
    assert.match(stderrLines(run).join('\n'), pattern);
  }
});

test('mail send-pending delivers what is due, on the log in development, and refuses in production without SMTP_URL', async () => {
  const database = await createTestDatabase();
  const secretKey = randomBytes(32).toString('base64url');
  const env = {
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: secretKey,
    DATABASE_POOL_SIZE: '2',
    ISSUER: 'http://localhost:3000',
  };
  ok(await latchkey(['migrate'], env));
  const token = newToken();
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  try {
    await createOutboxStore(pool, createSecretBox(secretKey)).enqueue({
      recipient: 'gina@example.com',
      template: 'invitation',
      locale: 'fr',
      data: { name: 'Gina', acceptPath: `/invitation?token=${token}`, expiresInDays: 7, invitedBy: 'Alice' },
    });
  } finally {
    await pool.end();
  }

  const refused = await latchkey(['mail', 'send-pending'], {
    ...env,
    NODE_ENV: 'production',
    ISSUER: 'https://id.example.com',
  });
  assert.equal(refused.code, 1);
  assert.match(stderrLines(refused).join('\n'), /SMTP_URL is not set/);

  const run = await latchkey(['mail', 'send-pending', '--json'], env);
  assert.deepEqual(JSON.parse(ok(run)), { sent: 1, retrying: 0, failed: 0, transport: 'log' });
  assert.ok(
    run.stderr.includes(`http://localhost:3000/invitation?token=${token}`),
    'the development log shows the link',
  );
  assert.deepEqual(JSON.parse(ok(await latchkey(['mail', 'send-pending', '--json'], env))), {
    sent: 0,
    retrying: 0,
    failed: 0,
    transport: 'log',
  });
});
