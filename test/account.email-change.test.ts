import assert from 'node:assert/strict';
import { after, test as nodeTest } from 'node:test';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { createAccountStore } from '../src/accounts/store.ts';
import { formField, UserAgent } from './helpers/browser.ts';
import { arrangeBrowserFlow, launchChromium, newContext, submitLogin, test } from './helpers/chromium.ts';
import { authorize, exchange, type Latchkey, PASSWORD, signInFrom, startLatchkey } from './helpers/latchkey.ts';
import { type ReceivedMail, startSmtp } from './helpers/smtp.ts';

const browser = await launchChromium();
after(() => browser.close());

/** The confirmation link in a mail's text part. */
function confirmLink(mail: ReceivedMail): URL {
  const match = /https?:\/\/\S+\/account\/email\/confirm\?\S+/.exec(mail.text);
  assert.ok(match, `an /account/email/confirm link in the mail:\n${mail.text}`);
  return new URL(match[0]);
}

async function accountRow(idp: Latchkey, id: string) {
  const { rows } = await idp.server.database.pool.query<{ email: string; email_verified: boolean }>(
    'select email, email_verified from accounts where id = $1',
    [id],
  );
  return rows[0];
}

async function mailsQueued(idp: Latchkey): Promise<number> {
  const { rows } = await idp.server.database.pool.query<{ n: number }>('select count(*)::int as n from mail_outbox');
  return rows[0]!.n;
}

/** Fills and posts the email change form; returns the status and the form's error, if any. */
async function submitEmailChange(page: Page, email: string, password = PASSWORD) {
  await page.locator('#new_email').fill(email);
  await page.locator('#email_password').fill(password);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/account/email') && r.request().method() === 'POST'),
    page.locator('#email button[type=submit]').click(),
  ]);
  await page.waitForLoadState();
  const alert = page.locator('#email [role=alert]');
  return { status: response.status(), error: (await alert.count()) ? await alert.textContent() : undefined };
}

async function openAccount(page: Page, idp: Latchkey, email: string) {
  await page.goto(`${idp.issuer}/account`);
  await submitLogin(page, email);
  await page.waitForURL(`${idp.issuer}/account`);
}

test('email change in Chromium: a link to the new address, confirmed with a button; the ID token and userinfo report it verified, the old address is told, the link works once', async (t) => {
  const smtp = await startSmtp(t);
  const { idp, app, rp, user, page, context } = await arrangeBrowserFlow(t, browser, {
    env: { SMTP_URL: smtp.url },
    appName: 'Acme Notes',
    user: { name: 'Alex Martin' },
  });
  // Unverified before: the confirmation must be what verifies the new address.
  await idp.server.database.pool.query('update accounts set email_verified = false where id = $1', [user.id]);
  const newEmail = 'alex.new@example.com';

  await openAccount(page, idp, user.email);
  assert.match((await page.locator('#email').textContent()) ?? '', new RegExp(`Your address is ${user.email}`));
  assert.deepEqual(await submitEmailChange(page, newEmail), { status: 303, error: undefined });
  assert.match(page.url(), /done=email#email$/);
  assert.match((await page.locator('[role=status]').textContent()) ?? '', /we sent it a link/);
  assert.equal(
    await page.locator('#email-pending').textContent(),
    `We sent a link to ${newEmail}. Your address changes when you open it.`,
  );
  assert.deepEqual(await accountRow(idp, user.id), { email: user.email, email_verified: false }, 'nothing yet');

  const [mail] = await smtp.waitFor(1);
  assert.deepEqual(mail!.envelope.to, [newEmail], 'the link goes to the new address');
  assert.match(mail!.headers.get('subject') ?? '', /Confirm your new email address/);
  const link = confirmLink(mail!);

  // A mail scanner fetching the link changes nothing.
  const scanned = await fetch(link);
  assert.equal(scanned.status, 200);
  assert.equal((await accountRow(idp, user.id))?.email, user.email);

  // Opened in another browser, not signed in: two tabs on the same link, the second too late.
  const elsewhere = await newContext(t, browser);
  const [first, second] = [await elsewhere.newPage(), await elsewhere.newPage()];
  for (const tab of [first, second]) {
    await tab.goto(link.href);
    await tab.getByRole('heading', { name: 'Confirm your new email address' }).waitFor();
  }
  assert.match((await first.locator('main').textContent()) ?? '', new RegExp(`Use ${newEmail} as the email address`));
  await first.getByRole('button', { name: 'Use this address' }).click();
  await first.getByRole('heading', { name: 'Your email address was changed' }).waitFor();
  assert.match((await first.locator('main').textContent()) ?? '', new RegExp(`now uses ${newEmail}`));
  assert.deepEqual(await accountRow(idp, user.id), { email: newEmail, email_verified: true });

  await second.getByRole('button', { name: 'Use this address' }).click();
  await second.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  await first.goto(link.href);
  await first.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  assert.equal((await accountRow(idp, user.id))?.email, newEmail);

  // The old address is told, once.
  const [, told] = await smtp.waitFor(2);
  assert.deepEqual(told!.envelope.to, [user.email]);
  assert.match(told!.headers.get('subject') ?? '', /The email address of your .+ account was changed/);
  assert.match(told!.text, new RegExp(`changed to ${newEmail}`));

  // Apps see it: a new sign-in with the new address, its ID token and userinfo.
  const tokens = await exchange(rp, await authorize(idp, rp, { email: newEmail, redirectUri: app.callback }));
  assert.equal(tokens.claims()?.email, newEmail);
  assert.equal(tokens.claims()?.email_verified, true);
  const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
  assert.equal(info.email, newEmail);
  assert.equal(info.email_verified, true);
  await assert.rejects(authorize(idp, rp, { email: user.email, redirectUri: app.callback }), /flow stopped/);

  // The account page, still signed in, shows the new address and the change in its activity.
  await page.goto(`${idp.issuer}/account`);
  assert.equal(await page.locator('.lede').first().textContent(), `Signed in as ${newEmail}.`);
  assert.equal(await page.locator('#email-pending').count(), 0);
  const activity = (await page.locator('#activity').textContent()) ?? '';
  assert.match(activity, /Email address changed/);
  assert.match(activity, /Asked to change the email address/);
  const { rows } = await idp.server.database.pool.query<{ event: string; details: object }>(
    `select event, details from audit_events where account_id = $1 and event like 'user.email%' order by id`,
    [user.id],
  );
  assert.deepEqual(
    rows.map((row) => row.event),
    ['user.email_change_requested', 'user.email_changed'],
  );
  assert.doesNotMatch(JSON.stringify(rows), /@/, 'no address in the audit trail');
  await smtp.close();
  assert.equal(smtp.inbox.length, 2, 'no other mail');
  assert.deepEqual(context.cspViolations, []);
  assert.deepEqual(elsewhere.cspViolations, []);
});

test('a wrong password, a malformed or own address and an address of another account are refused with a form error and change nothing; a password change voids a pending link; 5 links per new address an hour', async (t) => {
  const smtp = await startSmtp(t);
  const { idp, user, page } = await arrangeBrowserFlow(t, browser, { env: { SMTP_URL: smtp.url } });
  const other = await idp.users.create({ email: 'taken@example.com' });
  await openAccount(page, idp, user.email);

  assert.deepEqual(await submitEmailChange(page, 'fresh@example.com', 'not my password'), {
    status: 401,
    error: 'Your current password is incorrect.',
  });
  assert.equal(await page.locator('#new_email').inputValue(), 'fresh@example.com', 'the typed address is kept');
  assert.equal(await page.locator('#new_email').getAttribute('aria-describedby'), 'email-error');
  const { rows: failed } = await idp.server.database.pool.query(
    `select 1 from audit_events where account_id = $1 and event = 'account.password_check_failed'`,
    [user.id],
  );
  assert.equal(failed.length, 1, 'the wrong password is recorded, as on the sign-in page');
  // The browser's own check of the address is bypassed, as a hostile client would.
  await page.locator('#new_email').evaluate((input) => input.setAttribute('type', 'text'));
  assert.deepEqual(await submitEmailChange(page, 'not an address'), {
    status: 400,
    error: 'Enter a valid email address.',
  });
  assert.deepEqual(await submitEmailChange(page, user.email.toUpperCase()), {
    status: 400,
    error: 'This is already your address.',
  });
  assert.deepEqual(await submitEmailChange(page, 'TAKEN@example.com'), {
    status: 409,
    error: 'This address is used by another account.',
  });
  assert.equal(await mailsQueued(idp), 0, 'no mail for a refused change');
  assert.equal((await accountRow(idp, user.id))?.email, user.email);
  assert.equal((await accountRow(idp, other.id))?.email, 'taken@example.com');

  // A pending link dies with the password it was issued under.
  assert.equal((await submitEmailChange(page, 'fresh@example.com')).status, 303);
  const [mail] = await smtp.waitFor(1);
  assert.equal(await page.locator('#email-pending').count(), 1);
  await page.locator('#current_password').fill(PASSWORD);
  await page.locator('#new_password').fill('another long passphrase');
  await page.locator('#password button[type=submit]').click();
  await page.waitForURL(/done=password/);
  assert.equal(await page.locator('#email-pending').count(), 0, 'no pending change any more');
  await page.goto(confirmLink(mail!).href);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  assert.equal((await accountRow(idp, user.id))?.email, user.email);

  // The mail limit: 5 mails to one recipient an hour (the request above was the first).
  await page.goto(`${idp.issuer}/account`);
  for (let i = 2; i <= 5; i += 1) {
    assert.equal((await submitEmailChange(page, 'fresh@example.com', 'another long passphrase')).status, 303);
  }
  assert.deepEqual(await submitEmailChange(page, 'fresh@example.com', 'another long passphrase'), {
    status: 429,
    error: 'Too many links were sent to this address. Wait an hour and try again.',
  });
  assert.equal(await mailsQueued(idp), 5);
});

test('an address taken between the request and the confirmation is refused cleanly: nothing changes, the page says why', async (t) => {
  const smtp = await startSmtp(t);
  const { idp, user, page } = await arrangeBrowserFlow(t, browser, { env: { SMTP_URL: smtp.url } });
  await openAccount(page, idp, user.email);
  assert.equal((await submitEmailChange(page, 'shared@example.com')).status, 303);
  const [mail] = await smtp.waitFor(1);

  const other = await idp.users.create({ email: 'Shared@Example.com' });
  await page.goto(confirmLink(mail!).href);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/account/email/confirm') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Use this address' }).click(),
  ]);
  assert.equal(response.status(), 409);
  await page.getByRole('heading', { name: 'This address cannot be used' }).waitFor();
  assert.equal((await accountRow(idp, user.id))?.email, user.email);
  assert.equal((await accountRow(idp, other.id))?.email, 'Shared@Example.com');
  assert.equal(await mailsQueued(idp), 1, 'the old address is not told of a change that did not happen');
  const { rows } = await idp.server.database.pool.query(
    `select details from audit_events where account_id = $1 and event = 'user.email_change_refused'`,
    [user.id],
  );
  assert.deepEqual(rows, [{ details: { reason: 'email_taken' } }]);
  await page.getByRole('link', { name: 'Go to your account' }).click();
  await page.waitForURL(`${idp.issuer}/account`);
});

nodeTest(
  'one link confirmed twice at once applies once; a rival taking the address in a transaction in flight: the store says email_taken, never throws',
  async (t) => {
    const smtp = await startSmtp(t);
    const idp = await startLatchkey(t, { SMTP_URL: smtp.url });
    const user = await idp.users.create();
    const rival = await idp.users.create({ name: 'Rival' });
    const pool = idp.server.database.pool;

    // Plain user agents: one signed in asks for the change, another opens the link and posts twice at once.
    const agent = new UserAgent(idp.issuer);
    const signedIn = await signInFrom(idp, agent, agent.navigate('/account'), { email: user.email });
    const requested = await agent.submitForm('/account/email', {
      csrf: formField(signedIn.body, 'csrf')!,
      new_email: 'once@example.com',
      password: PASSWORD,
    });
    assert.equal(requested.response.status, 200);
    const [mail] = await smtp.waitFor(1);
    const opener = new UserAgent(idp.issuer);
    const shown = await opener.navigate(confirmLink(mail!));
    const fields = { csrf: formField(shown.body, 'csrf')!, token: formField(shown.body, 'token')! };
    const answers = await Promise.all([1, 2].map(() => opener.submitForm('/account/email/confirm', fields)));
    assert.deepEqual(answers.map((answer) => answer.response.status).sort(), [200, 400]);
    assert.equal((await accountRow(idp, user.id))?.email, 'once@example.com');
    await smtp.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(smtp.inbox.length, 2, 'the old address is told once');

    // The store's own race: the rival takes an address in a transaction still open.
    const client = await pool.connect();
    try {
      await client.query('begin');
      assert.deepEqual(await createAccountStore(client).changeEmail(rival.id, 'race@example.com'), {
        ok: true,
        accountId: rival.id,
        name: 'Rival',
        previousEmail: rival.email,
      });
      const pending = createAccountStore(pool).changeEmail(user.id, 'RACE@example.com');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await client.query('commit');
      assert.deepEqual(await pending, { ok: false, reason: 'email_taken' }, 'the unique index decided');
    } finally {
      client.release();
    }
    assert.deepEqual(await createAccountStore(pool).changeEmail(user.id, 'race@example.com'), {
      ok: false,
      reason: 'email_taken',
    });
    assert.deepEqual(await createAccountStore(pool).changeEmail('no-such-account', 'free@example.com'), {
      ok: false,
      reason: 'not_found',
    });
    assert.equal((await accountRow(idp, user.id))?.email, 'once@example.com');
  },
);
