import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  arrangeBrowserFlow,
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  receivedQuery,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('logout with id_token_hint asks to confirm, ends the session and returns to the registered address', async (t) => {
  const { idp, app, rp, user, context, page, request } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Dashboard',
  });
  await page.goto(request.url.href);
  await submitLogin(page, user.email);
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());

  const logout = new URL('/logout', idp.issuer);
  logout.search = new URLSearchParams({
    id_token_hint: tokens.id_token!,
    post_logout_redirect_uri: app.loggedOut,
    state: 'bye',
  }).toString();
  const confirm = await page.goto(logout.href);
  assert.equal(confirm?.status(), 200);
  assert.match((await page.locator('h1').textContent()) ?? '', /Sign out/);
  assert.match((await page.locator('main').textContent()) ?? '', /Acme Dashboard asks you to sign out/);

  await page.locator('button[name=logout][value=yes]').click();
  await backAtApp(page, app, '/logged-out');
  assert.deepEqual(await receivedQuery(page), { state: 'bye' });

  // The session is gone: a new authorization shows the login page again.
  await page.goto((await authorizationRequest(rp, app)).url.href);
  assert.equal(await page.locator('#password').count(), 1, 'login page shown again');
  assert.deepEqual(context.cspViolations, []);
});
