import assert from 'node:assert/strict';
import { after } from 'node:test';
import { launchChromium, newContext, test } from './helpers/chromium.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { act, printed, printedJson, runPlayground } from './helpers/playground.ts';

const browser = await launchChromium();
after(() => browser.close());

const API = 'https://notes.example.com/api';

test('playground, single-page app with an API, in French: PKCE without a secret, a JWT access token verified against /jwks, replay and revoke', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  await idp.apis.create({ identifier: API, scopes: ['notes:read'] });
  const context = await newContext(t, browser, { locale: 'fr-FR' });
  const page = await context.newPage();

  const run = await runPlayground(page, {
    issuer: idp.issuer,
    appType: 'spa',
    email: user.email,
    offline: false,
    resource: API,
  });
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  assert.equal(await page.locator('#step-5-heading').textContent(), 'Étape 5 : les jetons');
  assert.equal(run.params.resource, API);
  assert.equal(run.params.code_challenge_method, 'S256');
  assert.match(run.params.scope ?? '', /notes:read/);
  // A public client: no Authorization header, the client names itself and sends the verifier.
  assert.doesNotMatch(run.tokenRequest, /Authorization/);
  assert.match(run.tokenRequest, /client_id=/);
  const verifier = await page.locator('code[data-verifier]').textContent();
  assert.match(run.tokenRequest, new RegExp(`code_verifier=${verifier}`));

  // The access token is a JWT for the API, verified with the key the header names.
  const at = page.locator('[data-token=access_token]');
  assert.equal(await at.locator('[data-verified]').getAttribute('data-verified'), 'true');
  const header = JSON.parse((await at.locator('pre').first().textContent()) ?? '{}') as { kid: string };
  const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
  assert.ok(jwks.keys.some((key) => key.kid === header.kid));
  assert.ok((await at.textContent())?.includes(header.kid));
  // /userinfo refuses a token for an API, and the page says why.
  assert.equal((await printed(page, 'userinfo', 'response')).split(' ')[1], '401');
  assert.equal(await page.locator('[data-cause=audience]').count(), 1);
  // What the API would see.
  // An API verifies the JWT offline; the example API is not running here, and the page says so.
  assert.equal(await page.locator('[data-cause=apiNotRunning]').count(), 0, 'not a loopback API: not called');
  assert.equal(await page.locator('pre[data-exchange=introspection]').count(), 0);
  assert.equal(
    await page.locator('button[name=action][value=refresh]').count(),
    0,
    'no refresh without offline_access',
  );

  // A JWT access token cannot be revoked at its API: the page says why.
  await act(page, 'revoke');
  assert.equal(await page.locator('[data-cause=jwtOffline]').count(), 1);
  await act(page, 'replay');
  assert.equal(printedJson(await printed(page, 'replay', 'response')).error, 'invalid_grant');
  assert.equal(await page.locator('[data-cause=codeUsed]').count(), 1);

  await page.locator('button[name=action][value=logout]').click();
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForURL((url) => url.pathname === '/playground');
  assert.equal(await page.locator('#more .notice').count(), 1);
  assert.deepEqual(context.cspViolations, []);
});
