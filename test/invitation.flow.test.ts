import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  assertAccessible,
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  newContext,
  registerApp,
  startRelyingParty,
  submitLogin,
  test,
} from './helpers/chromium.ts';
import { runCliOn } from './helpers/cli.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { startSmtp } from './helpers/smtp.ts';

const CHOSEN = 'my very own first passphrase';

const browser = await launchChromium();
after(() => browser.close());

const latchkey = runCliOn;

test('invitation, end to end in Chromium: users invite mails a link; the person chooses a password, is verified, signs in; the link works once', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');

  const refused = await latchkey(idp, ['users', 'create', '--email', 'sam@example.com', '--name', 'Sam']);
  assert.notEqual(refused.code, 0, 'users create without a password is refused');
  assert.match(refused.stderr, /users invite/, 'with a hint to invite instead');

  const invited = await latchkey(idp, ['users', 'invite', '--email', 'sam@example.com', '--name', 'Sam Lee', '--json']);
  assert.equal(invited.code, 0, invited.stderr);
  const { id, invitation_expires_at: expires } = JSON.parse(invited.stdout) as {
    id: string;
    invitation_expires_at: string;
  };
  const days = (new Date(expires).getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 6.9 && days <= 7, 'valid 7 days (INVITE_TTL)');
  const invitationOf = async () =>
    (JSON.parse((await latchkey(idp, ['users', 'show', id, '--json'])).stdout) as { invitation_expires_at: unknown })
      .invitation_expires_at;
  assert.equal(await invitationOf(), expires, 'users show: the invitation is pending');
  const linkIn = (mail: { text: string }) => new URL(/https?:\/\/\S+\/accept-invitation\?\S+/.exec(mail.text)![0]);
  const [firstMail] = await smtp.waitFor(1);
  const firstLink = linkIn(firstMail!);

  // The mail went astray: inviting the address again mails a new link to the same account and voids the first.
  const again = await latchkey(idp, ['users', 'invite', '--email', 'SAM@example.com', '--name', 'Again', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const reinvited = JSON.parse(again.stdout) as { id: string; invited_again: boolean };
  assert.deepEqual([reinvited.id, reinvited.invited_again], [id, true], 'one account per address');
  const mail = (await smtp.waitFor(2))[1]!;
  assert.deepEqual(mail.envelope.to, ['sam@example.com']);
  assert.match(mail.headers.get('subject') ?? '', /invited/);
  const link = linkIn(mail);
  assert.equal(link.origin, idp.issuer);
  assert.notEqual(link.href, firstLink.href);

  const context = await newContext(t, browser);
  const page = await context.newPage();
  // Before accepting, no password signs in.
  const early = await authorizationRequest(rp, app);
  await page.goto(early.url.href);
  await submitLogin(page, 'sam@example.com', CHOSEN);
  assert.equal(await page.locator('#login-error').count(), 1);

  await page.goto(firstLink.href);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  await page.goto(link.href);
  assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'new-password');
  await assertAccessible(page, 'accept invitation');
  await page.locator('#password').fill('short');
  await page.getByRole('button', { name: 'Set my password' }).click();
  await page.locator('#form-error').waitFor();
  await assertAccessible(page, 'accept invitation with an error');
  await page.locator('#password').fill(CHOSEN);
  await page.getByRole('button', { name: 'Set my password' }).click();
  await page.getByRole('heading', { name: 'Your account is ready' }).waitFor();
  assert.equal(await invitationOf(), null, 'users show: no invitation pending once accepted');
  const used = await latchkey(idp, ['users', 'invite', '--email', 'sam@example.com', '--name', 'Sam']);
  assert.notEqual(used.code, 0, 'an account whose invitation was accepted is not invited again');
  assert.match(used.stderr, /has been used/);

  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  await submitLogin(page, 'sam@example.com', CHOSEN);
  if (page.url().includes('/interaction/')) await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());
  assert.equal(tokens.claims()?.sub, id);
  assert.equal(tokens.claims()?.email_verified, true, 'following the link verified the address');

  await page.goto(link.href);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  assert.deepEqual(context.cspViolations, []);
});
