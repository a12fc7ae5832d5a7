import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as oidc from 'openid-client';
import {
  assertAccessible,
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  newContext,
  startRelyingParty,
  submitLogin,
  test,
} from './helpers/chromium.ts';
import { runCliOn } from './helpers/cli.ts';
import { authorize, exchange, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { type ReceivedMail, startSmtp } from './helpers/smtp.ts';

const browser = await launchChromium();
after(() => browser.close());

/** `latchkey <args>` on the server's database; it must succeed, and its JSON output is returned. */
async function latchkey(idp: Latchkey, args: string[], stdin = '') {
  const run = await runCliOn(idp, args, stdin);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

const verifyLink = (mail: ReceivedMail) => new URL(/https?:\/\/\S+\/verify-email\?\S+/.exec(mail.text)![0]);

test('email verification in Chromium: an app with --require-verified-email stops sign-in at "verify your email" until the mailed link is followed', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
  const app = await startRelyingParty(t);

  // users create: unverified unless --email-verified.
  const verified = await latchkey(
    idp,
    [
      'users',
      'create',
      '--email',
      'kim@example.com',
      '--name',
      'Kim',
      '--password-stdin',
      '--email-verified',
      '--json',
    ],
    PASSWORD,
  );
  assert.equal((await latchkey(idp, ['users', 'show', String(verified.id), '--json'])).email_verified, true);
  const user = await latchkey(
    idp,
    ['users', 'create', '--email', 'robin@example.com', '--name', 'Robin', '--password-stdin', '--json'],
    PASSWORD,
  );
  assert.equal((await latchkey(idp, ['users', 'show', String(user.id), '--json'])).email_verified, false);

  // An app that does not ask for it: the sign-in goes through, and the ID token says unverified.
  const relaxed = await idp.rp(await idp.clients.create({ name: 'Relaxed App' }));
  const before = await exchange(relaxed, await authorize(idp, relaxed, { email: 'robin@example.com' }));
  assert.equal(before.claims()?.email_verified, false);

  const created = await latchkey(idp, [
    'clients',
    'create',
    '--name',
    'Acme Payroll',
    '--type',
    'confidential',
    '--redirect-uri',
    app.callback,
    '--require-verified-email',
    '--json',
  ]);
  const strict = { clientId: String(created.client_id), clientSecret: String(created.client_secret) };
  assert.equal((await latchkey(idp, ['clients', 'show', strict.clientId, '--json'])).require_verified_email, true);
  const rp = await idp.rp(strict);

  const context = await newContext(t, browser);
  const page = await context.newPage();
  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  await submitLogin(page, 'robin@example.com');
  await page.getByRole('heading', { name: 'Verify your email address' }).waitFor();
  await assertAccessible(page, 'verify your email');
  const [first] = await smtp.waitFor(1);
  assert.deepEqual(first!.envelope.to, ['robin@example.com']);

  await page.getByRole('button', { name: 'I have confirmed it: continue' }).click();
  await page.getByText('This address is not confirmed yet').waitFor();
  await page.getByRole('button', { name: 'Send the link again' }).click();
  await page.getByText('A new link is on its way.').waitFor();
  const [, second] = await smtp.waitFor(2);
  const stopped = page.url();

  // The first link was replaced by the second.
  await page.goto(verifyLink(first!).href);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  await page.goto(verifyLink(second!).href);
  await assertAccessible(page, 'confirm your email');
  await page.getByRole('button', { name: 'Confirm my email address' }).click();
  await page.getByRole('heading', { name: 'Your email address is confirmed' }).waitFor();
  await page.getByRole('link', { name: 'Continue to Acme Payroll' }).click();
  await page.waitForLoadState();
  if (page.url().includes('/interaction/')) await clickConsent(page, 'allow');
  await backAtApp(page, app);
  assert.ok(stopped.includes('/interaction/'));
  const tokens = await finishAtApp(rp, request, page.url());
  assert.equal(tokens.claims()?.email_verified, true, 'the ID token reports it');
  assert.equal(
    (await oidc.fetchUserInfo(rp, tokens.access_token, String(user.id))).email_verified,
    true,
    'and userinfo',
  );
  assert.deepEqual(context.cspViolations, []);
});
