import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium, newContext, test } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { act, checkStep, printed, printedJson, runPlayground } from './helpers/playground.ts';

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

const browser = await launchChromium();
after(() => browser.close());

test('playground, web app: every step runs against the server, refresh, reuse, replay and logout included (UPDATE_SCREENSHOTS=1 retakes step 4 for README)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const context = await newContext(t, browser);
  const page = await context.newPage();

  const run = await runPlayground(page, { issuer: idp.issuer, appType: 'web', email: user.email });
  assert.equal(run.params.response_type, 'code');
  assert.equal(run.params.redirect_uri, `${idp.issuer}/playground/callback/web`);
  assert.match(run.params.scope ?? '', /offline_access/);
  assert.equal(run.printedCallback, run.browserCallback, 'the printed callback is the URL the browser came back to');
  // The secret is masked until asked for; client_secret_basic carries it in the header.
  assert.match(run.tokenRequest, /^POST \/token HTTP\/1.1/);
  assert.match(run.tokenRequest, /Authorization: Basic •+/);
  const code = new URL(run.browserCallback).searchParams.get('code');
  assert.ok(code);
  assert.match(run.tokenRequest, new RegExp(`code=${code}`), 'the printed request carries the code the server issued');

  if (UPDATE_SCREENSHOTS) {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.locator('#step-4').screenshot({
      path: `${SCREENSHOTS}playground-step4-1280.png`,
      animations: 'disabled',
      caret: 'hide',
    });
  }

  // The printed access token is the real one: the server accepts it.
  const tokens = run.tokenResponse;
  assert.equal(tokens.token_type, 'Bearer');
  const userinfo = await fetch(`${idp.issuer}/userinfo`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(userinfo.status, 200);
  assert.equal(((await userinfo.json()) as { email: string }).email, user.email);
  assert.equal(await page.locator('[data-token=id_token] [data-verified]').getAttribute('data-verified'), 'true');
  assert.equal(await page.locator('[data-check=nonce]').getAttribute('class'), 'ok');
  assert.equal(printedJson(await printed(page, 'introspection', 'response')).active, true);

  await page.goto(`${idp.issuer}/playground?secret=show#step-4`);
  assert.doesNotMatch(await printed(page, 'token', 'request'), /•/, 'the secret shows on request');

  await act(page, 'refresh');
  const refreshed = printedJson(await printed(page, 'refresh', 'response'));
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'the refresh token rotated');
  await act(page, 'reuse');
  assert.equal(printedJson(await printed(page, 'reuse', 'response')).error, 'invalid_grant');
  assert.equal(await page.locator('[data-cause=refreshReused]').count(), 1);
  await act(page, 'replay');
  await checkStep(page, 'after replay', true);
  assert.equal(printedJson(await printed(page, 'replay', 'response')).error, 'invalid_grant');
  assert.equal(
    printedJson(await printed(page, 'check', 'response')).active,
    false,
    'the tokens of the code are revoked',
  );

  await page.locator('button[name=action][value=logout]').click();
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname === '/playground');
  assert.equal(await page.locator('#more .notice').count(), 1, 'back at the playground, signed out');
  await checkStep(page, 'signed out', true);
  assert.deepEqual(context.cspViolations, []);
});
