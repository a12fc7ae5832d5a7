import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  type AxeSummary,
  arrangeBrowserFlow,
  assertAccessible,
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('every page passes axe (WCAG 2.2 AA) without serious or critical findings and has labelled landmarks and fields', async (t) => {
  const { idp, app, rp, user, context, page, request } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Dashboard',
    user: { name: 'Alex Martin' },
    params: { scope: 'openid profile email offline_access', prompt: 'consent' },
  });
  const results: Record<string, AxeSummary> = {};
  const audit = async (name: string) => {
    results[name] = await assertAccessible(page, name);
    for (const landmark of ['header', 'main', 'footer'])
      assert.equal(await page.locator(landmark).count(), 1, `${name}: one <${landmark}>`);
    assert.equal(await page.locator('h1').count(), 1, `${name}: one h1`);
    assert.ok(await page.locator('html').getAttribute('lang'), `${name}: the language is declared`);
  };

  await page.goto(request.url.href);
  await audit('login');
  assert.equal(await page.locator('#email').getAttribute('autocomplete'), 'username');
  assert.equal(await page.locator('#password').getAttribute('autocomplete'), 'current-password');
  assert.equal(await page.getByLabel('Email').count(), 1, 'email field labelled');
  assert.equal(await page.getByLabel('Password').count(), 1, 'password field labelled');

  await submitLogin(page, user.email, 'wrong password');
  await audit('login with error');
  assert.equal(await page.locator('#email').getAttribute('aria-describedby'), 'login-error');

  await submitLogin(page, user.email);
  await audit('consent');
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
  const tokens = await finishAtApp(rp, request, page.url());

  await page.goto((await authorizationRequest(rp, app, { redirect_uri: `${app.url}/unregistered` })).url.href);
  await audit('error');

  const logout = new URL('/logout', idp.issuer);
  logout.search = new URLSearchParams({ id_token_hint: tokens.id_token! }).toString();
  await page.goto(logout.href);
  await audit('logout confirm');
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname.startsWith('/logout/'));
  await audit('logged out');

  for (const [name, summary] of Object.entries(results)) {
    t.diagnostic(
      `axe ${name}: ${summary.passes} rules passed; ${summary.violations.length ? summary.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes})`).join(', ') : 'no violations'}`,
    );
  }
  assert.deepEqual(context.cspViolations, [], 'axe ran without weakening the page CSP');
});
