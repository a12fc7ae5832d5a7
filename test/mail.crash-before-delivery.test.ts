import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { withTransaction } from '../src/db/pool.ts';
import { createOutboxStore } from '../src/mail/outbox-store.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { newToken } from './helpers/outbox.ts';
import { startSmtp, until } from './helpers/smtp.ts';
import { spawnServer } from './helpers/spawned-server.ts';

test('the server dies between "reset requested" and "mail sent": the mail still goes after the restart, once', async (t) => {
  const smtp = await startSmtp(t);
  const server = await spawnServer(t, { env: { SMTP_URL: smtp.url, WEB_CONCURRENCY: '1' } });
  // Ended inside the test: spawnServer drops the database when the test ends, before later hooks.
  const pool = new pg.Pool({ connectionString: server.database.url, max: 2 });
  try {
    // Frozen, the server cannot deliver what is queued now; then it is killed outright.
    server.child.kill('SIGSTOP');
    const token = newToken();
    const { id } = await withTransaction(pool, (client) =>
      createOutboxStore(client, createSecretBox(server.secretKey)).enqueue({
        recipient: 'erin@example.com',
        template: 'password_reset',
        locale: 'en',
        data: { name: 'Erin', resetPath: `/reset-password?token=${token}`, expiresInMinutes: 30 },
      }),
    );
    server.child.kill('SIGKILL');
    assert.equal(await server.exited, 'SIGKILL');
    assert.equal(smtp.inbox.length, 0, 'nothing was delivered before the crash');
    assert.equal((await pool.query('select state from mail_outbox where id = $1', [id])).rows[0].state, 'pending');

    await server.restart();

    const [mail] = await smtp.waitFor(1);
    assert.ok(mail!.text.includes(`${server.url}/reset-password?token=${token}`));
    await until(
      async () => (await pool.query('select state from mail_outbox where id = $1', [id])).rows[0].state === 'sent',
    );
    assert.equal(smtp.inbox.length, 1);
  } finally {
    await pool.end();
  }
});
