import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { authorizationRequest, backAtApp, clickConsent, finishAtApp, launchChromium, newContext, receivedQuery,
  registerApp, startRelyingParty, submitLogin } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';

const browser = await launchChromium();
after(() => browser.close());

test('sign-in works with JavaScript turned off: the pages are plain forms', async (t) => {
  const idp = await startLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app);
  const user = await idp.users.create();
  const page = await (await newContext(t, browser, { javaScriptEnabled: false })).newPage();
  const request = await authorizationRequest(rp, app);

  await page.goto(request.url.href);
  assert.equal(await page.locator('script').count(), 0, 'the login page has no script');
  await submitLogin(page, user.email, 'wrong');
  assert.equal(await page.locator('[role=alert]').count(), 1, 'the error is rendered by the server');
  await submitLogin(page, user.email);
  assert.equal(await page.locator('script').count(), 0, 'the consent page has no script');
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
  assert.equal((await receivedQuery(page)).state, request.state);
  assert.equal((await finishAtApp(rp, request, page.url())).claims()?.sub, user.id);
});
