import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { createServices } from '../src/services.ts';
import { assertAccessible, launchChromium, newContext, overflowsHorizontally, test } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { startSmtp } from './helpers/smtp.ts';

const browser = await launchChromium();
after(() => browser.close());

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** The pages README shows, by the file name of their screenshots. */
const SHOWN: Record<string, string> = {
  'forgot password': 'forgot-password',
  'create account': 'sign-up',
  'reset form': 'new-password',
};

async function screenshot(page: Page, name: string, width: number) {
  await page.screenshot({
    path: `${SCREENSHOTS}${name}-${width}.png`,
    fullPage: true,
    animations: 'disabled',
    caret: 'hide',
  });
}

test('the pages of forgot password, sign-up, invitations and verification pass axe at 375 and 1280 px, in English and French (UPDATE_SCREENSHOTS=1 retakes their screenshots)', async (t) => {
  const smtp = await startSmtp(t);
  const idp = await startLatchkey(t, { SMTP_URL: smtp.url, SIGNUP_ENABLED: 'true' });
  const user = await idp.users.create();
  const { selfService } = createServices({
    config: idp.config,
    db: idp.server.database.pool,
    secretKey: idp.config.secretKey!,
  });
  await selfService.requestPasswordReset(user.email, { locale: 'en' });
  const invited = await selfService.invite({ email: 'new.person@example.com', name: 'New Person', locale: 'fr' });
  assert.ok(invited.ok);
  await selfService.sendVerification(invited.account.id, { locale: 'fr' });
  const mails = await smtp.waitFor(3);
  const link = (path: string) =>
    new URL(new RegExp(`https?://\\S+${path}\\?\\S+`).exec(mails.map((m) => m.text).join('\n'))![0]).href;
  const pages: Array<[string, string]> = [
    ['forgot password', `${idp.issuer}/forgot-password`],
    ['create account', `${idp.issuer}/sign-up`],
    ['reset form', link('/reset-password')],
    ['invitation form', link('/accept-invitation')],
    ['confirm email', link('/verify-email')],
    ['invalid link', `${idp.issuer}/reset-password?token=${'x'.repeat(43)}`],
  ];
  for (const locale of ['en-US', 'fr-FR']) {
    for (const width of [375, 1280]) {
      const context = await newContext(t, browser, { locale, viewport: { width, height: 800 } });
      const page = await context.newPage();
      for (const [name, url] of pages) {
        await page.goto(url);
        const label = `${name} (${locale}, ${width} px)`;
        await assertAccessible(page, label);
        assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2), label);
        assert.equal(await overflowsHorizontally(page), false, `${label}: no sideways scrolling`);
        const shown = SHOWN[name];
        if (UPDATE_SCREENSHOTS && locale === 'en-US' && shown) await screenshot(page, shown, width);
      }
      await page.goto(pages[0]![1]);
      await page.locator('#email').fill('someone@example.com');
      await page.locator('form button[type=submit]').click();
      await page.locator('h1').waitFor();
      await assertAccessible(page, `check your email (${locale}, ${width} px)`);
      if (UPDATE_SCREENSHOTS && locale === 'en-US') await screenshot(page, 'check-email', width);
      // The sign-up form refusing a field: the error is announced and tied to its field.
      await page.goto(pages[1]![1]);
      await page.locator('#name').fill('Someone');
      await page.locator('#email').fill('not an address');
      await page.locator('form button[type=submit]').click();
      await page.locator('[role=alert]').waitFor();
      assert.equal(await page.locator('#email').getAttribute('aria-invalid'), 'true');
      await assertAccessible(page, `create account, refused (${locale}, ${width} px)`);
      assert.deepEqual(context.cspViolations, []);
    }
  }
});
