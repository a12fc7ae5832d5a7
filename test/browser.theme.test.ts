import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { arrangeBrowserFlow, backAtApp, clickConsent, launchChromium, submitLogin, test } from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

/** A theme's login page: the operator's own markup, with the same form fields and strings. */
const THEMED_LOGIN = `<h1 class="themed"><%= t.login.title %> · Acme</h1>
<p id="themed-welcome">Welcome back to <%= clientName %>.</p>
<% if (error) { %><div role="alert" id="login-error"><%= error %></div><% } %>
<form method="post" action="/interaction/<%= uid %>/login">
  <input type="hidden" name="csrf" value="<%= csrf %>">
  <label for="email"><%= t.login.email %></label><input id="email" name="email" type="email" autocomplete="username" value="<%= email %>">
  <label for="password"><%= t.login.password %></label><input id="password" name="password" type="password" autocomplete="current-password">
  <button type="submit"><%= t.login.submit %></button>
</form>
`;

test('a THEME_DIR template replaces the built-in one of the same name; the others stay', async (t) => {
  const themeDir = await mkdtemp(path.join(tmpdir(), 'latchkey-theme-'));
  t.after(() => rm(themeDir, { recursive: true, force: true }));
  await writeFile(path.join(themeDir, 'login.ejs'), THEMED_LOGIN);
  const { app, user, page, request } = await arrangeBrowserFlow(t, browser, {
    env: { THEME_DIR: themeDir },
    appName: 'Acme Dashboard',
  });

  await page.goto(request.url.href);
  assert.equal(await page.locator('#themed-welcome').textContent(), 'Welcome back to Acme Dashboard.');
  assert.equal(await page.locator('header').count(), 1, 'the built-in layout still wraps the themed page');

  await submitLogin(page, user.email);
  assert.equal(await page.locator('form[action$="/consent"]').count(), 1, 'consent uses the built-in template');
  assert.equal(await page.locator('#themed-welcome').count(), 0);
  await clickConsent(page, 'allow');
  await backAtApp(page, app);
});
