import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { authorizationRequest, backAtApp, clickConsent, launchChromium, newContext, receivedQuery,
  registerApp, startRelyingParty, submitLogin } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';

const browser = await launchChromium();
after(() => browser.close());

test('denying consent sends the browser back to the app with access_denied and no code', async (t) => {
  const idp = await startLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app);
  const user = await idp.users.create();
  const page = await (await newContext(t, browser)).newPage();
  const request = await authorizationRequest(rp, app);

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
