import assert from 'node:assert/strict';
import { after } from 'node:test';
import { arrangeBrowserFlow, authorizationRequest, launchChromium, test } from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('an unregistered redirect_uri shows our error page with 400 and the browser stays on Latchkey', async (t) => {
  const { idp, app, rp, page } = await arrangeBrowserFlow(t, browser);
  const request = await authorizationRequest(rp, app, { redirect_uri: `${app.url}/not-registered` });

  const response = await page.goto(request.url.href);
  assert.equal(response?.status(), 400);
  assert.equal(new URL(page.url()).origin, idp.issuer, 'not sent to the unregistered address');
  assert.equal(await page.locator('h1').textContent(), 'This request cannot be completed');
  assert.match((await page.locator('main').textContent()) ?? '', /not registered for this return address/);
  assert.match((await page.locator('main').textContent()) ?? '', /invalid_redirect_uri/);
  assert.equal(await page.locator('header').count(), 1, 'rendered in our layout');
});
