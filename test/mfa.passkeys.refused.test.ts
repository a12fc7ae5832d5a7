import assert from 'node:assert/strict';
import { after, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { createAccountStore } from '../src/accounts/store.ts';
import {
  authorizationRequest,
  launchChromium,
  newContext,
  registerApp,
  startRelyingParty,
  test,
} from './helpers/chromium.ts';
import {
  addPasskeyOnAccountPage,
  addVirtualAuthenticator,
  consentAndReturn,
  signOut,
  startPasskeyLatchkey,
  withoutAutofill,
} from './helpers/passkeys.ts';

const browser = await launchChromium();
after(() => browser.close());

/** A person with a passkey in this browser's authenticator, signed out again. */
async function arrange(t: TestContext, chromium: Browser) {
  const idp = await startPasskeyLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');
  const user = await idp.users.create();
  const context = await newContext(t, chromium);
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  await withoutAutofill(page);
  await addPasskeyOnAccountPage(page, idp, user.email, 'Work laptop');
  await signOut(page, idp);
  /** Opens a new sign-in for the app; its interaction uid and CSRF token. */
  async function openSignIn(params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, app, params);
    await page.goto(request.url.href);
    await page.locator('#passkey-button').waitFor({ state: 'visible' });
    return {
      request,
      uid: new URL(page.url()).pathname.split('/')[2]!,
      csrf: await page.locator('input[name=csrf]').first().inputValue(),
    };
  }
  return { idp, app, user, context, page, openSignIn };
}

test('a passkey answer sent again, or an answer to another sign-in’s challenge, is refused', async (t) => {
  const { idp, app, context, page, openSignIn } = await arrange(t, browser);

  // A sign-in with the passkey; what the page posted is kept.
  await openSignIn();
  const posted = page.waitForRequest((request) => request.url().endsWith('/passkey/login'));
  await page.locator('#passkey-button').click();
  const answer = (await posted).postDataJSON() as { response: unknown };
  await consentAndReturn(page, app);

  // Replayed at a new sign-in of the same browser (its own CSRF token and cookie): refused.
  const second = await openSignIn({ prompt: 'login' });
  const replay = await context.request.post(`${idp.issuer}/interaction/${second.uid}/passkey/login`, {
    data: { csrf: second.csrf, response: answer.response },
  });
  assert.equal(replay.status(), 401, await replay.text());
  assert.equal(((await replay.json()) as { error: string }).error, 'passkey_refused');

  // A challenge handed out for another sign-in, signed by the authenticator here: refused.
  const otherPage = await context.newPage();
  const otherRequest = await authorizationRequest((await registerApp(idp, app, 'Other')).rp, app, {
    prompt: 'login',
  });
  await otherPage.goto(otherRequest.url.href);
  const otherUid = new URL(otherPage.url()).pathname.split('/')[2]!;
  const otherCsrf = await otherPage.locator('input[name=csrf]').first().inputValue();
  const foreign = await context.request.post(`${idp.issuer}/interaction/${otherUid}/passkey/options`, {
    data: { csrf: otherCsrf },
  });
  assert.equal(foreign.status(), 200);
  const foreignOptions = (await foreign.json()) as { challenge?: string };
  assert.ok(foreignOptions.challenge, 'a challenge for the other sign-in');
  await page.route('**/passkey/options', (route) => route.fulfill({ json: foreignOptions }));
  const refused = page.waitForResponse((response) => response.url().endsWith('/passkey/login'));
  await page.locator('#passkey-button').click();
  assert.equal((await refused).status(), 401);
  await page.locator('#passkey-message.error').waitFor();
  assert.match((await page.locator('#passkey-message').textContent()) ?? '', /could not be used to sign in/);
  assert.ok(new URL(page.url()).pathname.startsWith(`/interaction/${second.uid}`), 'still on the sign-in page');
  assert.equal(context.cspViolations.length, 0, context.cspViolations.join('\n'));
});

test('a disabled account cannot sign in with its passkey', async (t) => {
  const { idp, user, page, openSignIn } = await arrange(t, browser);
  await createAccountStore(idp.server.database.pool).setDisabled(user.id, true);
  const { uid } = await openSignIn();
  const answered = page.waitForResponse((response) => response.url().endsWith('/passkey/login'));
  await page.locator('#passkey-button').click();
  assert.equal((await answered).status(), 403);
  await page.locator('#passkey-message.error').waitFor();
  assert.match((await page.locator('#passkey-message').textContent()) ?? '', /account is disabled/);
  assert.ok(new URL(page.url()).pathname.startsWith(`/interaction/${uid}`), 'still on the sign-in page');
  const { rows } = await idp.server.database.pool.query(
    `select details->>'reason' as reason from audit_events where event = 'login.failed' and account_id = $1`,
    [user.id],
  );
  assert.deepEqual(rows, [{ reason: 'disabled' }]);
});
