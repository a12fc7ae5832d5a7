import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  arrangeBrowserFlow,
  backAtApp,
  clickConsent,
  inPage,
  launchChromium,
  receivedQuery,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('a wrong password shows an error tied to the fields; the right one then signs the person in', async (t) => {
  const { app, user, page, request } = await arrangeBrowserFlow(t, browser);

  await page.goto(request.url.href);
  await submitLogin(page, user.email, 'not the password');

  const alert = page.locator('[role=alert]');
  assert.equal((await alert.textContent())?.trim(), 'Email or password is incorrect.');
  const alertId = await alert.getAttribute('id');
  for (const field of ['#email', '#password']) {
    assert.equal(await page.locator(field).getAttribute('aria-invalid'), 'true', `${field} is marked invalid`);
    assert.equal(
      await page.locator(field).getAttribute('aria-describedby'),
      alertId,
      `${field} is described by the error`,
    );
  }
  assert.equal(await page.locator('#email').inputValue(), user.email, 'the email is kept');
  assert.equal(await page.locator('#password').inputValue(), '', 'the password is not echoed back');
  assert.equal(await inPage(page, 'document.activeElement.id'), 'password', 'focus is on the password to retry');

  await submitLogin(page, user.email);
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
  assert.ok((await receivedQuery(page)).code);
});
