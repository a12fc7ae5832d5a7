import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuditStore } from '../src/audit/store.ts';
import { createMailRenderer } from '../src/mail/render.ts';
import { createMailSender, type RetryPolicy } from '../src/mail/sender.ts';
import { createSmtpTransport } from '../src/mail/transport.ts';
import { every } from '../src/timers.ts';
import { freePort } from './helpers/latchkey.ts';
import { capturedLogger, newToken, outboxDatabase } from './helpers/outbox.ts';
import { startSmtp, until } from './helpers/smtp.ts';

const renderer = createMailRenderer({
  issuer: 'https://id.example.com',
  brand: { name: 'Latchkey', logoUrl: undefined, primaryColor: '#3346d3' },
});

/** The server's arrangement in small: a sender on a timer, with a short backoff instead of minutes. */
async function arrange(t: Parameters<typeof outboxDatabase>[0], retry: RetryPolicy) {
  const port = await freePort();
  const db = await outboxDatabase(t);
  const { log, lines } = capturedLogger();
  const outcomes: string[] = [];
  const sender = createMailSender({
    outbox: db.outbox,
    renderer,
    transport: createSmtpTransport(`smtp://user:pass@127.0.0.1:${port}`),
    from: 'no-reply@id.example.com',
    log,
    retry,
    audit: createAuditStore(db.pool),
    metrics: { mails: { inc: ({ outcome }) => outcomes.push(outcome) } },
  });
  const timer = every(
    100,
    async () => {
      await sender.sendDue();
    },
    (err) => {
      throw err;
    },
  );
  db.beforeClose(async () => {
    await timer.stop();
    sender.close();
  });
  return { ...db, port, lines, outcomes };
}

test('SMTP down for a while: the mail is retried with backoff and goes when the server is back', async (t) => {
  const { outbox, pool, port, lines, outcomes } = await arrange(t, {
    firstDelayMs: 100,
    maxDelayMs: 400,
    giveUpAfterMs: 60_000,
  });
  const token = newToken();
  const { id } = await outbox.enqueue({
    recipient: 'carol@example.com',
    template: 'password_reset',
    locale: 'en',
    data: { name: 'Carol', resetPath: `/reset-password?token=${token}`, expiresInMinutes: 30 },
  });

  // Nothing listens on the port: attempts fail and are spaced further and further apart.
  const failing = await until(async () => {
    const [row] = await outbox.list();
    return row && row.attempts >= 3 && row;
  });
  assert.equal(failing.state, 'pending');
  assert.match(failing.last_error!, /ECONNREFUSED|ECONNECTION/);
  assert.ok(failing.next_attempt_at > new Date(Date.now() - 1000));

  const smtp = await startSmtp(t, { port });
  const [mail] = await smtp.waitFor(1);
  assert.ok(mail!.text.includes(`https://id.example.com/reset-password?token=${token}`));
  const sent = await until(async () => (await outbox.show(id))?.state === 'sent' && (await outbox.show(id))!);
  assert.ok(sent.attempts > failing.attempts);
  assert.equal(sent.last_error, null);
  assert.equal(smtp.inbox.length, 1);
  assert.deepEqual([...new Set(outcomes)].sort(), ['retry', 'sent']);
  const audit = await pool.query(`select event, details from audit_events order by id`);
  assert.deepEqual(
    audit.rows.map((r) => r.event),
    ['mail.sent'],
  );
  // The log names the outbox id; never the address, the token or the SMTP reply that may quote the address.
  assert.match(lines(), /"event":"mail.retry".*"mail_id":/);
  assert.ok(!lines().includes('carol@example.com') && !lines().includes(token));
});

test('SMTP down past the bounded time: the mail is marked failed, audited and counted, and never retried', async (t) => {
  const { outbox, pool, lines, outcomes } = await arrange(t, { firstDelayMs: 50, maxDelayMs: 100, giveUpAfterMs: 600 });
  const { id } = await outbox.enqueue({
    recipient: 'dan@example.com',
    template: 'verify_email',
    locale: 'en',
    data: { name: 'Dan', verifyPath: `/verify?token=${newToken()}`, expiresInHours: 24 },
  });

  const failed = await until(async () => (await outbox.show(id))?.state === 'failed' && (await outbox.show(id))!);
  assert.ok(failed.attempts >= 2);
  assert.match(failed.last_error!, /ECONNREFUSED|ECONNECTION/);
  assert.equal(outcomes.at(-1), 'failed');
  const audit = await pool.query(`select details from audit_events where event = 'mail.failed'`);
  assert.deepEqual(
    audit.rows.map((r) => r.details),
    [{ mail_id: id, template: 'verify_email', attempts: failed.attempts, reason: 'smtp' }],
  );
  assert.ok(!lines().includes('dan@example.com'));
  const attempts = failed.attempts;
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal((await outbox.show(id))!.attempts, attempts, 'a failed mail is not claimed again');
});
