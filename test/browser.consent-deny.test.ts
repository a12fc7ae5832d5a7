import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  arrangeBrowserFlow,
  backAtApp,
  clickConsent,
  launchChromium,
  receivedQuery,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('denying consent sends the browser back to the app with access_denied and no code', async (t) => {
  const { idp, app, user, page, request } = await arrangeBrowserFlow(t, browser);

  await page.goto(request.url.href);
  await submitLogin(page, user.email);
  await clickConsent(page, 'deny');
  await backAtApp(page, app);

  const query = await receivedQuery(page);
  assert.equal(query.error, 'access_denied');
  assert.equal(query.state, request.state);
  assert.equal(query.iss, idp.issuer);
  assert.equal(query.code, undefined);
});
