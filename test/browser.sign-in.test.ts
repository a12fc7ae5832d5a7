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

test('a person signs in through the login and consent pages and lands back at the app with a code', async (t) => {
  const { idp, app, rp, user, context, page, request } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Dashboard',
    user: { email: 'alex@example.com', name: 'Alex Martin' },
  });

  const first = await page.goto(request.url.href);
  assert.equal(first?.status(), 200);
  assert.match(
    (await first!.headerValue('content-security-policy')) ?? '',
    /script-src 'self'/,
    'pages are served under our CSP',
  );
  assert.match((await page.locator('h1').textContent()) ?? '', /Sign in/);
  assert.match((await page.locator('main').textContent()) ?? '', /Acme Dashboard/);

  await submitLogin(page, user.email);
  assert.match((await page.locator('h1').textContent()) ?? '', /Acme Dashboard wants to access your account/);
  // The redirect that follows the consent POST leaves our origin: the CSP must not block it.
  await clickConsent(page, 'allow');
  await backAtApp(page, app);

  const query = await receivedQuery(page);
  assert.equal(query.state, request.state);
  assert.equal(query.iss, idp.issuer);
  assert.ok(query.code, 'the app received a code');
  const tokens = await finishAtApp(rp, request, page.url());
  assert.equal(tokens.claims()?.sub, user.id);
  assert.deepEqual(context.cspViolations, [], 'no Content-Security-Policy violations on the way');
});
