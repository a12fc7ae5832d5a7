import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  arrangeBrowserFlow,
  assertAccessible,
  launchChromium,
  newContext,
  overflowsHorizontally,
  submitLogin,
  test,
} from './helpers/chromium.ts';
import { authorize, PASSWORD } from './helpers/latchkey.ts';
import { startSmtp } from './helpers/smtp.ts';

const browser = await launchChromium();
after(() => browser.close());

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const VIEWPORTS = [
  { width: 375, height: 740 },
  { width: 1280, height: 800 },
];

test('the account page passes axe at 375 and 1280 px, in English and French, and works from the keyboard (UPDATE_SCREENSHOTS=1 retakes its screenshots)', async (t) => {
  const { idp, app, rp, user } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Notes',
    user: { name: 'Alex Martin' },
  });
  // Something in every section: an app with a refresh token (another browser, so two sessions).
  await authorize(idp, rp, {
    email: user.email,
    scope: 'openid profile offline_access',
    prompt: 'consent',
    redirectUri: app.callback,
  });

  for (const [locale, heading] of [
    ['en-US', 'Your account'],
    ['fr-FR', 'Votre compte'],
  ] as const) {
    const context = await newContext(t, browser, { locale, viewport: VIEWPORTS[1] });
    const page = await context.newPage();
    await page.goto(`${idp.issuer}/account`);
    await submitLogin(page, user.email);
    await page.waitForURL(`${idp.issuer}/account`);
    assert.equal(await page.locator('h1').textContent(), heading);
    assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2));
    assert.equal(
      await page.locator('input[name=username]').first().isVisible(),
      false,
      'the username for password managers is not shown',
    );
    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await assertAccessible(page, `account ${locale} ${viewport.width}px`);
      assert.equal(
        await overflowsHorizontally(page),
        false,
        `account ${locale} ${viewport.width}px: no sideways scrolling`,
      );
      if (UPDATE_SCREENSHOTS && locale === 'en-US') {
        await page.screenshot({
          path: `${SCREENSHOTS}account-${viewport.width}.png`,
          fullPage: true,
          animations: 'disabled',
          caret: 'hide',
        });
      }
    }
    // A refused password shows its message, still accessible.
    await page.locator('#current_password').fill('not the password');
    await page.locator('#new_password').fill('a perfectly fine passphrase');
    await page.locator('#password button[type=submit]').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('#password [role=alert]').count(), 1);
    await assertAccessible(page, `account with an error ${locale}`);

    // Keyboard only: from the top of the page, Tab reaches the profile's name field and Enter submits it.
    await page.goto(`${idp.issuer}/account`);
    let reached = false;
    for (let i = 0; i < 12 && !reached; i += 1) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate('document.activeElement?.id === "name"')) as boolean;
    }
    assert.ok(reached, `${locale}: the name field is reachable with Tab`);
    await page.keyboard.press('Enter');
    await page.waitForURL(/done=profile/);
    await assertAccessible(page, `account after saving ${locale}`);
    assert.deepEqual(context.cspViolations, [], 'no CSP violations');
  }

  // The page that links to the account page keeps passing too (signed out, in English).
  const context = await newContext(t, browser);
  const page = await context.newPage();
  await page.goto(`${idp.issuer}/account`);
  await submitLogin(page, user.email);
  await page.waitForURL(`${idp.issuer}/account`);
  await page.goto(`${idp.issuer}/logout`);
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname.startsWith('/logout/'));
  assert.equal(await page.locator('a[href="/account"]').count(), 1, 'the signed-out page links to the account page');
  await assertAccessible(page, 'logged out with the account link');
});

test('the email change passes axe at 375 and 1280 px, in English and French: the form with an error, the pending change, the confirmation page, the result, the spent link', async (t) => {
  const smtp = await startSmtp(t);
  const { idp, user } = await arrangeBrowserFlow(t, browser, {
    env: { SMTP_URL: smtp.url },
    user: { name: 'Alex Martin' },
  });
  let email = user.email;
  for (const [n, locale] of [
    [1, 'en-US'],
    [2, 'fr-FR'],
  ] as const) {
    const context = await newContext(t, browser, { locale, viewport: VIEWPORTS[1] });
    const page = await context.newPage();
    const check = async (state: string) => {
      for (const viewport of VIEWPORTS) {
        await page.setViewportSize(viewport);
        const label = `${state} ${locale} ${viewport.width}px`;
        await assertAccessible(page, label);
        assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2), label);
        assert.equal(await overflowsHorizontally(page), false, `${label}: no sideways scrolling`);
      }
    };
    await page.goto(`${idp.issuer}/account`);
    await submitLogin(page, email);
    await page.waitForURL(`${idp.issuer}/account`);
    const next = `alex.${n}@example.com`;

    await page.locator('#new_email').fill(next);
    await page.locator('#email_password').fill('not the password');
    await page.locator('#email button[type=submit]').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('#email [role=alert]').count(), 1);
    await check('email change with an error');

    await page.locator('#new_email').fill(next);
    await page.locator('#email_password').fill(PASSWORD);
    await page.locator('#email button[type=submit]').click();
    await page.waitForURL(/done=email/);
    assert.equal(await page.locator('#email-pending').count(), 1);
    await check('email change pending');

    const [mail] = (await smtp.waitFor(2 * n - 1)).slice(-1);
    assert.deepEqual(mail!.envelope.to, [next]);
    const link = /https?:\/\/\S+\/account\/email\/confirm\?\S+/.exec(mail!.text)![0];
    await page.goto(link);
    assert.equal(await page.locator('form[action="/account/email/confirm"]').count(), 1);
    await check('confirm the new address');
    await page.locator('form[action="/account/email/confirm"] button[type=submit]').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('a[href="/account"]').count(), 1);
    await check('email changed');
    await page.goto(link);
    await check('email change link spent');
    assert.deepEqual(context.cspViolations, [], 'no CSP violations');
    email = next;
    await smtp.waitFor(2 * n);
  }
});
