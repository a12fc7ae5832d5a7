import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import {
  arrangeBrowserFlow,
  assertAccessible,
  authorizationRequest,
  launchChromium,
  newContext,
  overflowsHorizontally,
  submitLogin,
  test,
} from './helpers/chromium.ts';
import { PASSWORD } from './helpers/latchkey.ts';
import { awayFromStepEnd, totpCode } from './helpers/mfa.ts';

const browser = await launchChromium();
after(() => browser.close());

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const VIEWPORTS = [
  { width: 375, height: 740 },
  { width: 1280, height: 800 },
];

/** axe at both widths, the page's language, no sideways scrolling; a screenshot in English when asked. */
async function check(page: Page, locale: string, label: string, screenshot?: string) {
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize(viewport);
    const name = `${label} ${locale} ${viewport.width}px`;
    await assertAccessible(page, name);
    assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2), name);
    assert.equal(await overflowsHorizontally(page), false, `${name}: no sideways scrolling`);
    if (UPDATE_SCREENSHOTS && screenshot && locale === 'en-US') {
      await page.screenshot({
        path: `${SCREENSHOTS}${screenshot}-${viewport.width}.png`,
        fullPage: true,
        animations: 'disabled',
        caret: 'hide',
      });
    }
  }
}

test('the second-factor pages pass axe at 375 and 1280 px in English and French: setup, recovery codes, the code page (with an error), setup during sign-in (UPDATE_SCREENSHOTS=1 retakes their screenshots)', async (t) => {
  const { idp, app, rp } = await arrangeBrowserFlow(t, browser, { appName: 'Acme Notes' });
  const requiring = await idp.clients.create({ name: 'Payroll', redirectUris: [app.callback], requireMfa: true });
  const payroll = await idp.rp(requiring);

  for (const locale of ['en-US', 'fr-FR'] as const) {
    // The account page: setup, then the recovery codes.
    const person = await idp.users.create({ name: 'Sam Lee' });
    const context = await newContext(t, browser, { locale, viewport: VIEWPORTS[1] });
    const page = await context.newPage();
    await page.goto(`${idp.issuer}/account`);
    await submitLogin(page, person.email);
    await page.waitForURL(`${idp.issuer}/account`);
    await check(page, locale, 'account page without a factor');
    await page.locator('#totp_setup_password').fill(PASSWORD);
    await page.locator('form[action="/account/mfa/totp"] button[type=submit]').click();
    await page.waitForLoadState();
    await check(page, locale, 'authenticator app setup', 'totp-setup');
    await page.locator('#code').fill('000000');
    await page.locator('form[action="/account/mfa/totp/confirm"] button[type=submit]').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('[role=alert]').count(), 1);
    await check(page, locale, 'setup with a wrong code');
    const secret = (await page.locator('#totp-secret').textContent())!.trim();
    await awayFromStepEnd();
    await page.locator('#code').fill(totpCode(secret));
    await page.locator('form[action="/account/mfa/totp/confirm"] button[type=submit]').click();
    await page.waitForLoadState();
    await check(page, locale, 'recovery codes', 'recovery-codes');
    await page.goto(`${idp.issuer}/account`);
    await check(page, locale, 'account page with an authenticator app');

    // The second step of a sign-in, and with an error.
    const signIn = await newContext(t, browser, { locale, viewport: VIEWPORTS[1] });
    const second = await signIn.newPage();
    await second.goto((await authorizationRequest(rp, app)).url.href);
    await submitLogin(second, person.email);
    assert.equal(await second.locator('#code').count(), 1);
    await check(second, locale, 'second-factor page', 'second-factor');
    await second.locator('#code').fill('000000');
    await second.locator('form[action$="/second-factor"] button[type=submit]').first().click();
    await second.waitForLoadState();
    assert.equal(await second.locator('[role=alert]').count(), 1);
    await check(second, locale, 'second-factor page with an error');
    // No JavaScript needed: the recovery code form sits in a <details> that opens without script.
    await second.locator('details.other-method summary').click();
    assert.ok(await second.locator('#recovery_code').isVisible());
    await check(second, locale, 'second-factor page, recovery code open');

    // Setup during sign-in for an app that requires two factors.
    const enrolling = await idp.users.create({ name: 'Kim Park' });
    const third = await (await newContext(t, browser, { locale, viewport: VIEWPORTS[1] })).newPage();
    await third.goto((await authorizationRequest(payroll, app)).url.href);
    await submitLogin(third, enrolling.email);
    assert.equal(await third.locator('img.qr').count(), 1);
    await check(third, locale, 'setup during sign-in');
    assert.deepEqual(context.cspViolations, [], 'no CSP violations');
  }
});
