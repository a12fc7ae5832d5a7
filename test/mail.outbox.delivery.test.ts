import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTransaction } from '../src/db/pool.ts';
import { createOutboxStore } from '../src/mail/outbox-store.ts';
import { createMailRenderer } from '../src/mail/render.ts';
import { createMailSender } from '../src/mail/sender.ts';
import { createSmtpTransport } from '../src/mail/transport.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { capturedLogger, newToken, outboxDatabase } from './helpers/outbox.ts';
import { startSmtp, until } from './helpers/smtp.ts';

test('a mail queued with its token is delivered at once, with text and HTML parts and the right headers', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, {
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Acme Sign-in <no-reply@acme.example>',
    BRAND_NAME: 'Acme',
  });
  const token = newToken();
  const { pool } = idp.server.database;

  // As a flow does: the token and the mail carrying it in one transaction.
  const { id } = await withTransaction(pool, (client) =>
    createOutboxStore(client, createSecretBox(idp.config.secretKey!)).enqueue({
      recipient: 'alice@example.com',
      template: 'password_reset',
      locale: 'fr',
      data: { name: 'Alice', resetPath: `/reset-password?token=${token}`, expiresInMinutes: 30 },
    }),
  );

  const [mail] = await smtp.waitFor(1, 10_000);
  const link = `${idp.issuer}/reset-password?token=${token}`;
  assert.deepEqual(mail!.envelope, { from: 'no-reply@acme.example', to: ['alice@example.com'] });
  assert.equal(mail!.headers.get('from'), '"Acme Sign-in" <no-reply@acme.example>');
  assert.equal(mail!.headers.get('to'), 'alice@example.com');
  assert.equal(mail!.headers.get('subject'), 'Réinitialisez votre mot de passe Acme');
  assert.equal(mail!.headers.get('auto-submitted'), 'auto-generated');
  assert.equal(mail!.headers.get('content-language'), 'fr');
  assert.match(mail!.headers.get('content-type')!, /^multipart\/alternative/);
  assert.ok(mail!.headers.get('message-id'));
  assert.match(mail!.text, /Bonjour Alice,/);
  assert.ok(mail!.text.includes(link), 'the text part holds the absolute link');
  assert.match(mail!.html, /<html lang="fr">/);
  assert.ok(mail!.html.includes(`href="${link}"`), 'the HTML part links to it');

  // Recorded (just after the SMTP server took it): the row is sent, an audit event names the outbox id and template only.
  const row = await until(async () => {
    const result = await pool.query(
      'select state, attempts, sent_at, data::text as data from mail_outbox where id = $1',
      [id],
    );
    return result.rows[0].state === 'sent' && result;
  });
  assert.equal(row.rows[0].state, 'sent');
  assert.equal(row.rows[0].attempts, 1);
  assert.ok(row.rows[0].sent_at);
  assert.ok(!row.rows[0].data.includes(token), 'the link is sealed at rest');
  // The audit event is written just after the row is marked sent.
  const audit = await until(async () => {
    const result = await pool.query(`select details from audit_events where event = 'mail.sent'`);
    return result.rows.length > 0 && result;
  });
  assert.deepEqual(
    audit.rows.map((r) => r.details),
    [{ mail_id: id, template: 'password_reset', attempts: 1 }],
  );
  const metrics = await (await fetch(`http://127.0.0.1:${idp.server.metricsPort}/metrics`)).text();
  assert.match(metrics, /^latchkey_mails_total\{outcome="sent"\} 1$/m);
});

test('a mail queued in a transaction that rolls back is never sent', async (t) => {
  const { pool, outbox, secretKey } = await outboxDatabase(t);
  await assert.rejects(
    withTransaction(pool, async (client) => {
      await createOutboxStore(client, createSecretBox(secretKey)).enqueue({
        recipient: 'bob@example.com',
        template: 'verify_email',
        locale: 'en',
        data: { name: 'Bob', verifyPath: `/verify?token=${newToken()}`, expiresInHours: 24 },
      });
      throw new Error('the token could not be stored');
    }),
    /the token could not be stored/,
  );
  assert.deepEqual(await outbox.list(), []);
});

test('two senders (two nodes) claiming at the same moment deliver each mail exactly once', async (t) => {
  const smtp = await startSmtp(t);
  const { outbox, open, secretKey } = await outboxDatabase(t);
  const tokens = Array.from({ length: 24 }, newToken);
  for (const [i, token] of tokens.entries()) {
    await outbox.enqueue({
      recipient: `user${i}@example.com`,
      template: 'invitation',
      locale: 'en',
      data: { name: `User ${i}`, acceptPath: `/invitation?token=${token}`, expiresInDays: 7 },
    });
  }
  const renderer = createMailRenderer({
    issuer: 'https://id.example.com',
    brand: { name: 'Latchkey', logoUrl: undefined, primaryColor: '#3346d3' },
  });
  // Each node: its own pool, its own SMTP connection.
  const node = () =>
    createMailSender({
      outbox: createOutboxStore(open(), createSecretBox(secretKey)),
      renderer,
      transport: createSmtpTransport(smtp.url),
      from: 'no-reply@id.example.com',
      log: capturedLogger().log,
      batchSize: 4,
    });
  const [a, b] = [node(), node()];

  const reports = await Promise.all([a.sendDue(), b.sendDue()]);

  assert.equal(reports[0].sent + reports[1].sent, tokens.length);
  assert.ok(
    reports[0].sent > 0 && reports[1].sent > 0,
    `both nodes took a share: ${reports[0].sent} and ${reports[1].sent}`,
  );
  assert.equal(smtp.inbox.length, tokens.length, 'no mail went twice');
  const delivered = smtp.inbox.map((mail) => /token=([\w-]+)/.exec(mail.text)?.[1]).sort();
  assert.deepEqual(delivered, [...tokens].sort());
  assert.deepEqual(
    (await outbox.list({ state: 'sent', limit: 100 })).map((row) => row.attempts),
    tokens.map(() => 1),
  );
  a.close();
  b.close();
});
