import assert from 'node:assert/strict';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  arrangeBrowserFlow,
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  overflowsHorizontally,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** The README's screenshots are tracked files: retaken only when asked, so a test run leaves the tree clean. */
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
/** Each screenshot's modification time, to show that a plain run wrote none. */
const screenshotTimes = async () =>
  Object.fromEntries(
    await Promise.all(
      (await readdir(SCREENSHOTS)).map(async (name) => [name, (await stat(`${SCREENSHOTS}${name}`)).mtimeMs] as const),
    ),
  );
const browser = await launchChromium();
after(() => browser.close());

for (const width of [375, 1280]) {
  test(`every page fits a ${width} px wide screen without sideways scrolling (UPDATE_SCREENSHOTS=1 retakes docs/screenshots)`, async (t) => {
    const { idp, app, rp, user, page, request } = await arrangeBrowserFlow(t, browser, {
      appName: 'Acme Dashboard',
      user: { email: 'alex.martin@example.com', name: 'Alex Martin' },
      context: { viewport: { width, height: width < 600 ? 740 : 800 } },
      params: { scope: 'openid profile email offline_access', prompt: 'consent' },
    });
    if (UPDATE_SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
    const before = await screenshotTimes();
    const check = async (name: string, shoot = false) => {
      assert.equal(await overflowsHorizontally(page), false, `${name} at ${width} px scrolls sideways`);
      if (shoot && UPDATE_SCREENSHOTS)
        await page.screenshot({
          path: `${SCREENSHOTS}${name}-${width}.png`,
          fullPage: true,
          animations: 'disabled',
          caret: 'hide',
        });
    };

    await page.goto(request.url.href);
    await check('login', true);
    await submitLogin(page, user.email, 'wrong password');
    await check('login-error', true);
    await submitLogin(page, user.email);
    await check('consent', true);
    await clickConsent(page, 'allow');
    await backAtApp(page, app);
    const tokens = await finishAtApp(rp, request, page.url());

    await page.goto((await authorizationRequest(rp, app, { redirect_uri: `${app.url}/unregistered` })).url.href);
    await check('error', true);

    const logout = new URL('/logout', idp.issuer);
    logout.search = new URLSearchParams({ id_token_hint: tokens.id_token! }).toString();
    await page.goto(logout.href);
    await check('logout', true);
    await page.locator('button[name=logout][value=yes]').click();
    await page.waitForURL((url) => url.pathname.startsWith('/logout/'));
    await check('logged-out');
    if (!UPDATE_SCREENSHOTS) assert.deepEqual(await screenshotTimes(), before, 'docs/screenshots is left as it was');
  });
}
