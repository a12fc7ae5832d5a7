import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  arrangeBrowserFlow,
  authorizationRequest,
  backAtApp,
  clickConsent,
  launchChromium,
  receivedQuery,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('the second sign-in in the same browser shows neither login nor consent', async (t) => {
  const { app, rp, user, page, request } = await arrangeBrowserFlow(t, browser);

  await page.goto(request.url.href);
  await submitLogin(page, user.email);
  await clickConsent(page, 'allow');
  await backAtApp(page, app);

  const second = await authorizationRequest(rp, app);
  const visited: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(new URL(frame.url()).pathname);
  });
  await page.goto(second.url.href);
  await backAtApp(page, app);
  const query = await receivedQuery(page);
  assert.equal(query.state, second.state);
  assert.ok(query.code);
  assert.ok(!visited.some((path) => path.startsWith('/interaction/')), `no page was shown: ${visited.join(' -> ')}`);
});
