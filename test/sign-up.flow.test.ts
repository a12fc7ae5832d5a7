import assert from 'node:assert/strict';
import { after, test as nodeTest } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
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
import { authorize, CALLBACK, exchange, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { type ReceivedMail, startSmtp, until } from './helpers/smtp.ts';

const browser = await launchChromium();
after(() => browser.close());

const SIGN_UP_ON = { SIGNUP_ENABLED: 'true' };

const verifyLink = (mail: ReceivedMail) => new URL(/https?:\/\/\S+\/verify-email\?\S+/.exec(mail.text)![0]);

/** The sign-up form, filled and posted by a plain user agent; returns the answer. */
async function signUp(
  idp: Latchkey,
  fields: { name?: string; email: string; password?: string },
  agent = new UserAgent(idp.issuer),
) {
  const page = await agent.navigate('/sign-up');
  assert.equal(page.response.status, 200);
  return agent.submitForm('/sign-up', {
    csrf: formField(page.body, 'csrf')!,
    name: fields.name ?? 'Sam Rivera',
    email: fields.email,
    password: fields.password ?? PASSWORD,
  });
}

/** Accounts with this address (case-insensitive), straight from the database. */
async function accountsWith(idp: Latchkey, email: string) {
  const { rows } = await idp.server.database.pool.query<{ id: string; email_verified: boolean; signed_up: boolean }>(
    'select id, email_verified, signed_up_at is not null as signed_up from accounts where lower(email) = lower($1)',
    [email],
  );
  return rows;
}

test('sign-up in Chromium: create account, verify the address from the mail, then sign in to the app', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { ...SIGN_UP_ON, SMTP_URL: smtp.url });
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');

  const context = await newContext(t, browser);
  const page = await context.newPage();
  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  await page.getByRole('link', { name: 'Create account' }).click();
  await page.waitForURL((url) => url.pathname === '/sign-up');
  await assertAccessible(page, 'create account');
  assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'new-password');
  assert.equal(await page.locator('#email').getAttribute('autocomplete'), 'email');

  // A common password is refused, and the form says why.
  await page.locator('#name').fill('Sam Rivera');
  await page.locator('#email').fill('sam@example.com');
  await page.locator('#password').fill('password1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('one of the most common passwords').waitFor();
  assert.equal(await page.locator('#password').getAttribute('aria-invalid'), 'true');
  await assertAccessible(page, 'create account, refused password');

  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  await assertAccessible(page, 'check your email');
  const [mail] = await smtp.waitFor(1);
  assert.deepEqual(mail!.envelope.to, ['sam@example.com']);
  assert.match(mail!.headers.get('subject') ?? '', /Confirm your email address/);
  const [account] = await accountsWith(idp, 'sam@example.com');
  assert.deepEqual({ ...account, id: undefined }, { id: undefined, email_verified: false, signed_up: true });

  // Not verified yet: the password is right, but the sign-in stops at "verify your email".
  await page.getByRole('link', { name: 'Back to sign-in' }).click();
  await submitLogin(page, 'sam@example.com');
  await page.getByRole('heading', { name: 'Verify your email address' }).waitFor();

  // The link opens in another tab; back on the stopped sign-in, "continue" goes on to the app.
  const mailTab = await context.newPage();
  await mailTab.goto(verifyLink(mail!).href);
  await mailTab.getByRole('button', { name: 'Confirm my email address' }).click();
  await mailTab.getByRole('heading', { name: 'Your email address is confirmed' }).waitFor();
  await page.getByRole('button', { name: 'I have confirmed it: continue' }).click();
  await page.waitForLoadState();
  if (page.url().includes('/interaction/')) await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());
  const claims = tokens.claims()!;
  assert.equal(claims.sub, account!.id);
  assert.equal(claims.email, 'sam@example.com');
  assert.equal(claims.email_verified, true);
  assert.equal(claims.name, 'Sam Rivera');
  assert.deepEqual(context.cspViolations, []);
});

nodeTest(
  'an address that has an account: the same page, status and (floored) timing; its owner is told, no second account',
  async (t) => {
    const smtp = await startSmtp(t);
    const idp = await startLatchkey(t, { ...SIGN_UP_ON, SMTP_URL: smtp.url });
    const owner = await idp.users.create({ email: 'owner@example.com', name: 'Olive Owner' });

    const time = async (email: string) => {
      const started = performance.now();
      const answer = await signUp(idp, { email });
      return { status: answer.response.status, body: answer.body, ms: performance.now() - started };
    };
    const taken = await time('OWNER@example.com');
    const fresh = await time('newcomer@example.com');
    assert.equal(taken.status, 200);
    assert.equal(fresh.status, taken.status);
    assert.equal(fresh.body, taken.body, 'the same page, byte for byte');
    for (const { ms } of [taken, fresh]) assert.ok(ms >= 600, 'both wait for the floor');

    const mails = await smtp.waitFor(2);
    const toOwner = mails.find((m) => m.envelope.to.includes(owner.email))!;
    assert.match(toOwner.headers.get('subject') ?? '', /You already have a Latchkey account/);
    assert.match(toOwner.text, /\/forgot-password/);
    assert.equal((await accountsWith(idp, owner.email)).length, 1, 'no second account');
    assert.equal((await accountsWith(idp, 'newcomer@example.com')).length, 1);
  },
);

nodeTest('ten simultaneous sign-ups with one new address make exactly one account', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { ...SIGN_UP_ON, SMTP_URL: smtp.url });
  const agents = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const agent = new UserAgent(idp.issuer);
      const page = await agent.navigate('/sign-up');
      return { agent, csrf: formField(page.body, 'csrf')! };
    }),
  );
  const answers = await Promise.all(
    agents.map(({ agent, csrf }) =>
      agent.submitForm('/sign-up', { csrf, name: 'Twin', email: 'twin@example.com', password: PASSWORD }),
    ),
  );
  assert.deepEqual(
    answers.map((a) => a.response.status),
    Array(10).fill(200),
  );
  assert.equal((await accountsWith(idp, 'twin@example.com')).length, 1);
  // One verification mail; the other nine tell the owner, up to the recipient's limit of five an hour.
  const mails = await until(async () => (smtp.inbox.length >= 5 ? smtp.inbox : false));
  assert.equal(mails.filter((m) => /Confirm your email/.test(m.headers.get('subject') ?? '')).length, 1);
});

nodeTest('with SIGNUP_REQUIRE_VERIFIED_EMAIL=false a new account signs in before it verifies', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { ...SIGN_UP_ON, SIGNUP_REQUIRE_VERIFIED_EMAIL: 'false', SMTP_URL: smtp.url });
  assert.equal((await signUp(idp, { email: 'quick@example.com' })).response.status, 200);
  const rp = await idp.rp(await idp.clients.create({ name: 'Relaxed App' }));
  const tokens = await exchange(rp, await authorize(idp, rp, { email: 'quick@example.com' }));
  assert.equal(tokens.claims()?.email_verified, false);
  await smtp.waitFor(1);
});

nodeTest('sign-up is off by default: no link on the sign-in page, /sign-up is a 404', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create({ name: 'Any App' }));
  const agent = new UserAgent(idp.issuer);
  const login = await agent.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }),
  );
  assert.equal(login.response.status, 200);
  assert.doesNotMatch(login.body, /sign-up/);
  assert.equal((await agent.navigate('/sign-up')).response.status, 404);
  assert.equal((await agent.submitForm('/sign-up', { email: 'x@example.com' })).response.status, 404);
});

nodeTest(
  'hostile inputs on the sign-up form: CSRF 403, NUL 400, bad fields 400 and nothing created, never 5xx',
  async (t) => {
    const idp = await startLatchkey(t, SIGN_UP_ON);
    const agent = new UserAgent(idp.issuer);
    const csrf = formField((await agent.navigate('/sign-up')).body, 'csrf')!;
    const post = (fields: Record<string, string>) => agent.submitForm('/sign-up', fields);
    const valid = { csrf, name: 'Hostile Harry', email: 'harry@example.com', password: PASSWORD };

    assert.equal((await post({ ...valid, csrf: '' })).response.status, 403, 'no CSRF token');
    assert.equal((await post({ ...valid, csrf: `${csrf}x` })).response.status, 403, 'a wrong CSRF token');
    assert.equal((await new UserAgent(idp.issuer).submitForm('/sign-up', valid)).response.status, 403, 'no cookie');
    assert.equal((await post({ ...valid, name: 'Harry\u0000' })).response.status, 400, 'NUL');
    for (const [label, fields] of [
      ['no name', { ...valid, name: '   ' }],
      ['a name too long', { ...valid, name: 'n'.repeat(201) }],
      ['no address', { ...valid, email: '' }],
      ['not an address', { ...valid, email: 'harry' }],
      ['an address too long', { ...valid, email: `${'h'.repeat(250)}@example.com` }],
      ['a header injection', { ...valid, email: 'harry@example.com\r\nBcc: all@example.com' }],
      ['no password', { ...valid, password: '' }],
      ['a short password', { ...valid, password: 'short' }],
      ['a password too long', { ...valid, password: 'p'.repeat(1025) }],
    ] as const) {
      const answer = await post(fields);
      assert.equal(answer.response.status, 400, label);
      assert.match(answer.body, /role="alert"/, `${label}: the form says why`);
    }
    const oversized = await agent.request('/sign-up', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${csrf}&name=${'n'.repeat(200_000)}`,
    });
    assert.ok([400, 413].includes(oversized.status), `oversized body: ${oversized.status}`);
    const { rows } = await idp.server.database.pool.query('select count(*)::int as n from accounts');
    assert.equal(rows[0].n, 0, 'nothing was created');
  },
);
