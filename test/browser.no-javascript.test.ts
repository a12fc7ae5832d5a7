import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  arrangeBrowserFlow,
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

test('sign-in works with JavaScript turned off: the pages are plain forms', async (t) => {
  const { app, rp, user, page, request } = await arrangeBrowserFlow(t, browser, {
    context: { javaScriptEnabled: false },
  });

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
