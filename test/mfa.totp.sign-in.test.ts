import assert from 'node:assert/strict';
import { after } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import {
  arrangeBrowserFlow,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  submitLogin,
  test,
} from './helpers/chromium.ts';
import { PASSWORD } from './helpers/latchkey.ts';
import { awayFromStepEnd, totpCode } from './helpers/mfa.ts';

const browser = await launchChromium();
after(() => browser.close());

test('in Chromium: set up an authenticator app on the account page, sign out, sign in with password and code; the ID token says pwd, otp, mfa', async (t) => {
  const { idp, app, rp, user, context, page, request } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Notes',
    user: { name: 'Alex Martin' },
  });

  // The account page: "Set up an authenticator app".
  await page.goto(`${idp.issuer}/account`);
  await submitLogin(page, user.email);
  await page.waitForURL(`${idp.issuer}/account`);
  await page.locator('#totp_setup_password').fill(PASSWORD);
  await page.locator('form[action="/account/mfa/totp"] button[type=submit]').click();
  await page.waitForLoadState();
  const qr = page.locator('img.qr');
  assert.match((await qr.getAttribute('src')) ?? '', /^data:image\/svg\+xml;base64,/);
  assert.ok(
    await qr.evaluate((img) => {
      const image = img as unknown as { decode(): Promise<void>; naturalWidth: number };
      return image.decode().then(() => image.naturalWidth);
    }),
    'the QR code is drawn under the real CSP (img-src data:)',
  );
  const secret = (await page.locator('#totp-secret').textContent())!.trim();
  const uri = (await page.locator('#totp-uri').textContent())!.trim();
  assert.match(uri, new RegExp(`^otpauth://totp/.*secret=${secret}.*`));
  assert.match(uri, /algorithm=SHA1/);
  assert.match(uri, /digits=6/);
  assert.match(uri, /period=30/);

  await awayFromStepEnd();
  await page.locator('#code').fill(totpCode(secret));
  await page.locator('form[action="/account/mfa/totp/confirm"] button[type=submit]').click();
  await page.waitForLoadState();
  assert.equal(await page.locator('#recovery-codes li').count(), 10, 'ten recovery codes, shown once');
  assert.match((await page.locator('a[download]').getAttribute('href')) ?? '', /^data:text\/plain;charset=utf-8,/);
  await page.locator('a[href="/account#mfa"]').click();
  await page.waitForURL(`${idp.issuer}/account#mfa`);
  assert.match((await page.locator('#totp-status').textContent()) ?? '', /on/);

  // Sign out.
  await page.goto(`${idp.issuer}/logout`);
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname.startsWith('/logout/'));

  // The app sends the browser to sign in: password, then the code.
  await page.goto(request.url.href);
  await submitLogin(page, user.email, PASSWORD);
  assert.equal(await page.locator('h1').textContent(), 'Two-step verification');
  const code = page.locator('#code');
  assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(await code.getAttribute('inputmode'), 'numeric');
  await awayFromStepEnd();
  // The enrolment spent this step's code: the app shows the next one a little early (drift +1).
  await code.fill(totpCode(secret, 1));
  await page.locator('form[action$="/second-factor"] button[type=submit]').first().click();
  await page.waitForLoadState();
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());
  const claims = tokens.claims()!;
  assert.equal(claims.sub, user.id);
  assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(claims.acr, ACR.mfa);
  assert.deepEqual(context.cspViolations, [], 'no CSP violations');
});
