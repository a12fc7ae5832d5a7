import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as oidc from 'openid-client';
import { arrangeBrowserFlow, launchChromium, submitLogin, test } from './helpers/chromium.ts';
import { authorize, exchange, type Latchkey, PASSWORD } from './helpers/latchkey.ts';

const browser = await launchChromium();
after(() => browser.close());

const OFFLINE = { scope: 'openid profile offline_access', prompt: 'consent' };

/** A refresh token for the app from another browser (a session of its own), as a phone app would hold. */
async function refreshTokenElsewhere(idp: Latchkey, rp: oidc.Configuration, email: string, redirectUri: string) {
  const flow = await authorize(idp, rp, { email, ...OFFLINE, redirectUri });
  const tokens = await exchange(rp, flow);
  assert.ok(tokens.refresh_token, 'the app holds a refresh token');
  return tokens.refresh_token;
}

async function refreshFails(rp: oidc.Configuration, token: string, why: string) {
  await assert.rejects(
    oidc.refreshTokenGrant(rp, token),
    (err: { error?: string }) => err.error === 'invalid_grant',
    why,
  );
}

async function sessionsOf(idp: Latchkey, accountId: string): Promise<number> {
  const { rows } = await idp.server.database.pool.query<{ n: number }>(
    `select count(*)::int as n from oidc_payloads where model = 'Session' and payload->>'accountId' = $1`,
    [accountId],
  );
  return rows[0]!.n;
}

test('a person signs in to /account, edits the profile, signs out another session, removes an app, changes the password', async (t) => {
  const { idp, app, rp, user, page } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Notes',
    user: { name: 'Alex Martin' },
  });
  const firstToken = await refreshTokenElsewhere(idp, rp, user.email, app.callback);

  // The account page signs in through the normal sign-in page, then shows the account.
  await page.goto(`${idp.issuer}/account`);
  assert.match((await page.locator('h1').textContent()) ?? '', /Sign in/);
  await submitLogin(page, user.email);
  await page.waitForURL(`${idp.issuer}/account`);
  assert.equal(await page.locator('h1').textContent(), 'Your account');
  assert.match((await page.locator('#apps').textContent()) ?? '', /Acme Notes/);
  assert.doesNotMatch(
    (await page.locator('#apps').textContent()) ?? '',
    /Account/,
    'the page is not listed among its own apps',
  );
  assert.equal(await page.locator('#sessions li.row').count(), 2, 'this browser and the other one');
  assert.match(
    (await page.locator('#sessions li.row', { hasText: 'This browser' }).textContent()) ?? '',
    /Chrome on Linux · This browser[\s\S]*Address: 127\.0\.0\.1/,
  );
  assert.match((await page.locator('#activity').textContent()) ?? '', /Signed in/);

  // Profile.
  await page.locator('#name').fill('Alex M. Martin');
  await page.locator('#given_name').fill('Alex');
  await page.locator('#profile button[type=submit]').click();
  await page.waitForURL(/done=profile/);
  assert.match((await page.locator('[role=status]').textContent()) ?? '', /profile was saved/);
  assert.equal(await page.locator('#name').inputValue(), 'Alex M. Martin');
  assert.equal(
    (await idp.server.database.pool.query('select given_name from accounts where id = $1', [user.id])).rows[0]
      .given_name,
    'Alex',
  );

  // Sign out the other browser: its session ends; the app's offline access outlives it, as after a sign-out.
  await page.locator('#sessions form[action="/account/sessions/end"] button').click();
  await page.waitForURL(/done=session/);
  assert.equal(await page.locator('#sessions li.row').count(), 1);
  assert.equal(await sessionsOf(idp, user.id), 1);
  const rotated = await oidc.refreshTokenGrant(rp, firstToken);
  assert.ok(rotated.refresh_token);

  // Remove the app: its refresh token is dead and its remembered consent forgotten.
  await page.locator('#apps button', { hasText: 'Remove access' }).click();
  await page.waitForURL(/done=app/);
  assert.match((await page.locator('#apps').textContent()) ?? '', /No app has access/);
  await refreshFails(rp, rotated.refresh_token!, 'a removed app cannot refresh');
  const again = await authorize(idp, rp, { email: user.email, ...OFFLINE, redirectUri: app.callback });
  assert.equal(again.sawConsent, true, 'the app must ask for consent again');
  const secondToken = (await exchange(rp, again)).refresh_token!;

  // Change the password: other sessions end, refresh tokens die, this browser stays signed in.
  const newPassword = 'a brand new passphrase 2';
  await page.locator('#current_password').fill(PASSWORD);
  await page.locator('#new_password').fill(newPassword);
  await page.locator('#password button[type=submit]').click();
  await page.waitForURL(/done=password/);
  assert.match((await page.locator('[role=status]').textContent()) ?? '', /password was changed/);
  await refreshFails(rp, secondToken, 'refresh tokens die with the old password');
  assert.equal(await sessionsOf(idp, user.id), 1, 'only this browser is still signed in');
  await page.goto(`${idp.issuer}/account`);
  assert.equal(await page.locator('h1').textContent(), 'Your account', 'this browser stays signed in');
  assert.match((await page.locator('#activity').textContent()) ?? '', /Password changed/);
});

test('the password form says why a new password is refused, and a wrong current password changes nothing', async (t) => {
  const { idp, user, page } = await arrangeBrowserFlow(t, browser);
  await page.goto(`${idp.issuer}/account`);
  await submitLogin(page, user.email);
  await page.waitForURL(`${idp.issuer}/account`);

  const submit = async (current: string, next: string) => {
    await page.locator('#current_password').fill(current);
    await page.locator('#new_password').fill(next);
    // The browser's own minlength check is bypassed, as a hostile client would.
    await page.locator('#new_password').evaluate((input) => input.removeAttribute('minlength'));
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/account/password')),
      page.locator('#password button[type=submit]').click(),
    ]);
    await page.waitForLoadState();
    return { status: response.status(), message: await page.locator('#password [role=alert]').textContent() };
  };
  assert.deepEqual(await submit(PASSWORD, 'short'), {
    status: 400,
    message: 'The new password is too short: use at least 8 characters.',
  });
  assert.deepEqual(await submit(PASSWORD, 'Password123'), {
    status: 400,
    message: 'The new password is one of the most common passwords, which are guessed first. Choose another.',
  });
  assert.deepEqual(await submit('not my password', 'a perfectly fine passphrase'), {
    status: 401,
    message: 'Your current password is incorrect.',
  });
  assert.equal(
    await page.locator('#new_password').getAttribute('aria-describedby'),
    'new-password-hint password-error',
  );
});

test('a person deletes their account with their password', async (t) => {
  const { idp, user, page } = await arrangeBrowserFlow(t, browser);
  await page.goto(`${idp.issuer}/account`);
  await submitLogin(page, user.email);
  await page.waitForURL(`${idp.issuer}/account`);
  await page.locator('#delete_password').fill(PASSWORD);
  await page.locator('#delete_confirm').check();
  await page.locator('#delete button[type=submit]').click();
  await page.waitForLoadState();
  assert.equal(await page.locator('h1').textContent(), 'Your account was deleted');
  assert.equal((await idp.server.database.pool.query('select 1 from accounts where id = $1', [user.id])).rowCount, 0);
  assert.equal(await sessionsOf(idp, user.id), 0);
  await page.goto(`${idp.issuer}/account`);
  assert.match((await page.locator('h1').textContent()) ?? '', /Sign in/, 'the deleted account is signed out');
});
