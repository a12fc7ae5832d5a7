import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { createApi } from '../examples/api/api.ts';
import { launchChromium, newContext, test } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { act, printed, printedJson, runPlayground } from './helpers/playground.ts';

const browser = await launchChromium();
after(() => browser.close());

test('playground, native app, with JavaScript off: the example API called, refresh, reuse, replay and logout', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  // The example API of the docs, on this machine: its identifier is its URL.
  const api = http.createServer();
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => api.close(() => resolve())));
  const audience = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  api.on('request', createApi({ issuer: idp.issuer, audience }));
  await idp.apis.create({ identifier: audience, scopes: ['read', 'write'] });

  const context = await newContext(t, browser, { javaScriptEnabled: false });
  const page = await context.newPage();
  const run = await runPlayground(page, {
    issuer: idp.issuer,
    appType: 'native',
    email: user.email,
    resource: audience,
    // axe runs in the page's JavaScript: the web app and SPA files run it on every step.
    axe: false,
  });
  assert.equal(run.params.redirect_uri, `${idp.issuer}/playground/callback/native`);
  assert.equal(run.params.prompt, 'consent', 'offline_access goes with prompt=consent');
  assert.ok(run.tokenResponse.refresh_token);

  // The API accepted the printed access token: what it answered is on the page.
  const answer = await printed(page, 'api', 'response');
  assert.match(answer, /^HTTP\/1.1 200/);
  assert.equal(printedJson(answer).caller && typeof printedJson(answer).caller, 'object');

  await act(page, 'refresh');
  assert.match(await printed(page, 'refresh', 'response'), /^HTTP\/1.1 200/);
  assert.match(await printed(page, 'api', 'response'), /^HTTP\/1.1 200/, 'the refreshed token works at the API');
  await act(page, 'reuse');
  assert.equal(printedJson(await printed(page, 'reuse', 'response')).error, 'invalid_grant');
  assert.equal(printedJson(await printed(page, 'check_refresh', 'response')).active, false, 'the grant is revoked');
  await act(page, 'replay');
  assert.equal(printedJson(await printed(page, 'replay', 'response')).error, 'invalid_grant');

  await page.locator('button[name=action][value=logout]').click();
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname === '/playground');
  assert.equal(await page.locator('#more .notice').count(), 1);
});
