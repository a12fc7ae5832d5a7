import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, mailRequired } from '../src/config.ts';
import { createMailRenderer } from '../src/mail/render.ts';
import { MAIL_LOCALES, MAIL_TEMPLATES, type MailTemplates } from '../src/mail/templates.ts';

const SAMPLES: MailTemplates = {
  password_reset: { name: 'Ana', resetPath: '/reset-password?token=r', expiresInMinutes: 30 },
  password_changed: { name: 'Ana', changedAt: '2025-01-02T03:04:05Z', helpPath: '/forgot-password' },
  verify_email: { name: 'Ana', verifyPath: '/verify-email?token=v', expiresInHours: 24 },
  signup_existing_account: { name: 'Ana', signInPath: '/account', resetPath: '/forgot-password' },
  invitation: { name: 'Ana', acceptPath: '/invitation?token=i', expiresInDays: 7, invitedBy: 'Ops' },
  confirm_email_change: { name: 'Ana', confirmPath: '/account/email/confirm?token=c', expiresInHours: 24 },
  email_changed: {
    name: 'Ana',
    newEmail: 'new@example.com',
    changedAt: '2025-01-02T03:04:05Z',
    helpPath: '/forgot-password',
  },
  recovery_code_used: { name: 'Ana', usedAt: '2025-01-02T03:04:05Z', remaining: 9, helpPath: '/account' },
  mfa_reset: { name: 'Ana', resetAt: '2025-01-02T03:04:05Z', accountPath: '/account' },
};

test('every template renders in English and French, text and HTML, every link absolute on the issuer (its path kept)', () => {
  const renderer = createMailRenderer({
    issuer: 'https://example.com/idp',
    brand: { name: 'Acme', logoUrl: 'https://example.com/logo.png', primaryColor: '#ffe000' },
  });
  for (const template of MAIL_TEMPLATES) {
    for (const locale of MAIL_LOCALES) {
      const mail = renderer.renderStored(template, locale, SAMPLES[template]);
      assert.ok(mail.subject.includes('Acme'), `${template}/${locale}: ${mail.subject}`);
      assert.ok(mail.links.length >= 1);
      for (const link of mail.links) {
        assert.ok(link.startsWith('https://example.com/idp/'), link);
        assert.ok(mail.text.includes(link) && mail.html.includes(`href="${link}"`), `${template}/${locale}: ${link}`);
      }
      assert.ok(!/undefined|NaN|\[object/.test(mail.text + mail.html), `${template}/${locale}`);
      assert.match(mail.html, new RegExp(`<html lang="${locale}">`));
      assert.match(mail.html, /<img src="https:\/\/example\.com\/logo\.png" alt="Acme"/);
    }
  }
});

test('a name is escaped in HTML and cut; a link that is not a path on the issuer is refused', () => {
  const renderer = createMailRenderer({
    issuer: 'https://id.example.com',
    brand: { name: 'Latchkey', logoUrl: undefined, primaryColor: '#3346d3' },
  });
  const mail = renderer.render('verify_email', 'en', {
    name: `<a href="https://evil.example">x</a>${'y'.repeat(100)}`,
    verifyPath: '/v',
    expiresInHours: 1,
  });
  assert.ok(!mail.html.includes('<a href="https://evil.example">'));
  assert.ok(mail.html.includes('&lt;a href=&#34;https://evil.example&#34;&gt;'));
  assert.ok(!mail.text.includes('y'.repeat(60)), 'the name is cut to 60 characters');
  assert.throws(
    () =>
      renderer.render('password_reset', 'en', {
        name: 'A',
        resetPath: 'https://evil.example/reset',
        expiresInMinutes: 30,
      }),
    /path on the issuer/,
  );
  assert.throws(() => renderer.renderStored('no_such_mail', 'en', {}), /unknown mail template/);
});

test("mail settings: SMTP_URL is smtp or smtps, MAIL_FROM an address, the default From on the issuer's host", () => {
  assert.throws(() => loadConfig({ SMTP_URL: 'http://mail.example.com' }), {
    message: 'config: SMTP_URL: must be an smtp:// or smtps:// URL',
  });
  assert.throws(() => loadConfig({ MAIL_FROM: 'not an address' }), {
    message: /^config: MAIL_FROM: must be an address/,
  });
  assert.equal(loadConfig({ MAIL_FROM: 'Ops <ops@example.com>' }).mail.from, 'Ops <ops@example.com>');
  const config = loadConfig({
    ISSUER: 'https://id.example.com',
    BRAND_NAME: 'Acme "Sign-in"',
    SMTP_URL: 'smtps://u:p@smtp.example.com',
  });
  assert.deepEqual(config.mail, {
    smtpUrl: 'smtps://u:p@smtp.example.com',
    from: '"Acme Sign-in" <no-reply@id.example.com>',
    deliverable: true,
  });
  // No feature that mails is on by default: production starts without SMTP_URL, and shows no flow that needs mail.
  const production = loadConfig({
    NODE_ENV: 'production',
    ISSUER: 'https://id.example.com',
    LATCHKEY_SECRET_KEY: 'k'.repeat(32),
  });
  assert.deepEqual(mailRequired(production), []);
  assert.equal(production.mail.deliverable, false);
  assert.equal(production.flows.resetEnabled, false);
});
