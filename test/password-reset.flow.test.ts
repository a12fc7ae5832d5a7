import assert from 'node:assert/strict';
import { after, test as nodeTest } from 'node:test';
import * as oidc from 'openid-client';
import { createAccountTokenStore } from '../src/accounts/token-store.ts';
import { createServices } from '../src/services.ts';
import { formField, UserAgent } from './helpers/browser.ts';
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
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { oauthErrorBody } from './helpers/oauth-errors.ts';
import { type ReceivedMail, startSmtp } from './helpers/smtp.ts';

const NEW_PASSWORD = 'a fresh and lengthy passphrase';

const browser = await launchChromium();
after(() => browser.close());

/** The one-time link in a mail's text part. */
function linkIn(mail: ReceivedMail, path: string): URL {
  const match = new RegExp(`https?://\\S+${path}\\?\\S+`).exec(mail.text);
  assert.ok(match, `a ${path} link in the mail:\n${mail.text}`);
  return new URL(match[0]);
}

/** The forgot-password form, filled and posted by a plain user agent; returns the answer. */
async function requestReset(idp: Latchkey, email: string, agent = new UserAgent(idp.issuer)) {
  const page = await agent.navigate('/forgot-password');
  assert.equal(page.response.status, 200);
  return agent.submitForm('/forgot-password', { csrf: formField(page.body, 'csrf')!, email });
}

test('forgot password, end to end in Chromium: mail, new password, signed out everywhere, sign in again; the link works once', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
  const app = await startRelyingParty(t);
  const client = await idp.clients.create({
    name: 'Acme Notes',
    type: 'confidential',
    redirectUris: [app.callback],
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const rp = await idp.rp(client);
  const user = await idp.users.create({ name: 'Alex Martin' });

  // Signed in earlier, with a refresh token an attacker might hold.
  const earlier = await exchange(
    rp,
    await authorize(idp, rp, {
      email: user.email,
      redirectUri: app.callback,
      scope: 'openid offline_access',
      prompt: 'consent',
    }),
  );
  assert.ok(earlier.refresh_token);

  const context = await newContext(t, browser);
  const page = await context.newPage();
  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  await page.getByRole('link', { name: 'Forgot password?' }).click();
  await page.waitForURL((url) => url.pathname === '/forgot-password');
  await assertAccessible(page, 'forgot password');
  await page.locator('#email').fill(user.email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  await assertAccessible(page, 'check your email');

  const [mail] = await smtp.waitFor(1);
  assert.deepEqual(mail!.envelope.to, [user.email]);
  assert.match(mail!.headers.get('subject') ?? '', /Reset your Latchkey password/);
  const link = linkIn(mail!, '/reset-password');
  assert.equal(link.origin, idp.issuer, 'the link is on the issuer');
  assert.match(link.searchParams.get('token') ?? '', /^[A-Za-z0-9_-]{43}$/, '256 bits');

  await page.goto(link.href);
  const password = page.locator('#password');
  assert.equal(await password.getAttribute('type'), 'password');
  assert.equal(await password.getAttribute('autocomplete'), 'new-password');
  assert.ok(await page.locator('input[name=csrf]').getAttribute('value'));
  await assertAccessible(page, 'new password');
  await password.fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change my password' }).click();
  await page.getByRole('heading', { name: 'Your password was changed' }).waitFor();
  await assertAccessible(page, 'password changed');

  // Every session and refresh token of before is gone.
  await assert.rejects(oidc.refreshTokenGrant(rp, earlier.refresh_token), oauthErrorBody('invalid_grant'));
  // "Your password was changed" is mailed too.
  const mails = await smtp.waitFor(2);
  assert.match(mails[1]!.headers.get('subject') ?? '', /password was changed/);

  // Back to the app's sign-in, with the new password.
  await page.getByRole('link', { name: 'Continue to Acme Notes' }).click();
  await submitLogin(page, user.email, NEW_PASSWORD);
  if (page.url().includes('/interaction/')) await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());
  assert.equal(tokens.claims()?.sub, user.id);

  // The link works once.
  await page.goto(link.href);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  assert.deepEqual(context.cspViolations, []);
});

nodeTest('an unknown address gets the same page, status and (floored) timing as a known one', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
  const user = await idp.users.create();

  const time = async (email: string) => {
    const started = performance.now();
    const answer = await requestReset(idp, email);
    return { status: answer.response.status, body: answer.body, ms: performance.now() - started };
  };
  const known = await time(user.email);
  const unknown = await time('nobody.here@example.com');
  assert.equal(known.status, 200);
  assert.equal(unknown.status, known.status);
  assert.equal(unknown.body, known.body, 'the same page, byte for byte');
  for (const { ms } of [known, unknown]) assert.ok(ms >= 300, 'both wait for the floor');
  await smtp.waitFor(1);
  assert.equal(smtp.inbox.length, 1, 'only the real account gets a mail');
});

nodeTest(
  'a newer request, or any password change, voids older links; two uses at once: exactly one wins',
  async (t) => {
    const smtp = await startSmtp(t);
    const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
    const user = await idp.users.create();

    await requestReset(idp, user.email);
    await requestReset(idp, user.email);
    const [first, second] = await smtp.waitFor(2);
    const agent = new UserAgent(idp.issuer);
    const older = await agent.navigate(linkIn(first!, '/reset-password'));
    assert.equal(older.response.status, 400, 'the older link is void');
    const newer = await agent.navigate(linkIn(second!, '/reset-password'));
    assert.equal(newer.response.status, 200);

    // Two submissions of the newest link at once: one changes the password, the other is refused.
    const fields = { csrf: formField(newer.body, 'csrf')!, token: formField(newer.body, 'token')! };
    const answers = await Promise.all(
      ['first passphrase here', 'second passphrase here'].map((password) =>
        agent.submitForm('/reset-password', { ...fields, password }),
      ),
    );
    assert.deepEqual(answers.map((a) => a.response.status).sort(), [200, 400]);

    // A password set elsewhere (users set-password) voids a link issued before it.
    await requestReset(idp, user.email);
    const [, , , third] = await smtp.waitFor(4);
    const services = createServices({
      config: idp.config,
      db: idp.server.database.pool,
      secretKey: idp.config.secretKey!,
    });
    assert.equal((await services.accounts.setPassword(user.id, 'set by an operator')).ok, true);
    const token = linkIn(third!, '/reset-password').searchParams.get('token')!;
    assert.equal(await createAccountTokenStore(idp.server.database.pool).use(token, 'reset'), undefined);
  },
);

nodeTest(
  'hostile inputs on the forms: CSRF 403, NUL 400, oversized 413 or 400, never 5xx; mails per recipient are limited',
  async (t) => {
    const smtp = await startSmtp(t);
    const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
    const user = await idp.users.create();
    const agent = new UserAgent(idp.issuer);
    const page = await agent.navigate('/forgot-password');
    const csrf = formField(page.body, 'csrf')!;

    for (const path of ['/forgot-password', '/reset-password', '/accept-invitation']) {
      assert.equal(
        (await agent.submitForm(path, { email: user.email, token: 'x', password: NEW_PASSWORD })).response.status,
        403,
        `${path}: no CSRF token`,
      );
      assert.equal(
        (await agent.submitForm(path, { csrf: `${csrf}x`, email: user.email, token: 'x', password: NEW_PASSWORD }))
          .response.status,
        403,
        `${path}: wrong token`,
      );
      assert.equal(
        (await new UserAgent(idp.issuer).submitForm(path, { csrf, email: user.email })).response.status,
        403,
        `${path}: a token without its cookie`,
      );
      assert.equal(
        (await agent.submitForm(path, { csrf, email: `${user.email}\u0000`, token: 'a\u0000', password: 'x\u0000' }))
          .response.status,
        400,
        `${path}: NUL`,
      );
      assert.equal(
        (await agent.submitForm(path, { csrf, email: 'x'.repeat(20_000) })).response.status,
        413,
        `${path}: oversized form`,
      );
    }
    assert.equal(
      (await agent.submitForm('/forgot-password', { csrf, email: `${'x'.repeat(300)}@example.com` })).response.status,
      400,
      'an overlong address',
    );
    assert.equal(
      (await agent.submitForm('/reset-password', { csrf, token: 'x'.repeat(43), password: NEW_PASSWORD })).response
        .status,
      400,
      'an unknown token',
    );
    const weak = await agent.navigate('/reset-password?token=%00%3Cscript%3E');
    assert.equal(weak.response.status, 400);

    // Many requests for one recipient: at most 5 mails an hour.
    const answers = await Promise.all(Array.from({ length: 8 }, () => requestReset(idp, user.email)));
    assert.ok(
      answers.every((a) => a.response.status === 200),
      'the page says the same',
    );
    const { rows } = await idp.server.database.pool.query<{ n: number }>(
      "select count(*)::int as n from mail_outbox where template = 'password_reset'",
    );
    assert.equal(rows[0]!.n, 5);
  },
);
