import assert from 'node:assert/strict';
import { after } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import {
  authorizationRequest,
  backAtApp,
  clickConsent,
  finishAtApp,
  launchChromium,
  newContext,
  registerApp,
  startRelyingParty,
  test,
} from './helpers/chromium.ts';
import { addPasskeyOnAccountPage, addVirtualAuthenticator, signOut, startPasskeyLatchkey } from './helpers/passkeys.ts';

const browser = await launchChromium();
after(() => browser.close());

test('register a passkey, sign out, sign in passwordless with it: the ID token says hwk or swk, user and mfa, acr mfa', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');
  const user = await idp.users.create({ name: 'Alex Martin' });
  const context = await newContext(t, browser);
  const page = await context.newPage();
  await addVirtualAuthenticator(page);

  await addPasskeyOnAccountPage(page, idp, user.email, 'Work laptop');
  await signOut(page, idp);

  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  assert.equal(await page.locator('#email').getAttribute('autocomplete'), 'username webauthn', 'conditional UI');
  const button = page.locator('#passkey-button');
  await button.waitFor({ state: 'visible' });
  assert.equal(await button.textContent(), 'Sign in with a passkey');
  await button.click();
  await page.waitForURL((url) => url.pathname.endsWith(`/consent`) || !url.pathname.startsWith('/interaction'));
  if (await page.locator('form[action$="/consent"]').count()) await clickConsent(page, 'allow');
  await backAtApp(page, app);

  const tokens = await finishAtApp(rp, request, page.url());
  const claims = tokens.claims()!;
  assert.equal(claims.sub, user.id);
  const amr = claims.amr as string[];
  assert.ok(amr.includes('hwk') || amr.includes('swk'), `amr names the key: ${amr}`);
  assert.ok(amr.includes('user'), 'user verification');
  assert.ok(amr.includes('mfa'), 'a user-verified passkey is multi-factor');
  assert.ok(!amr.includes('pwd'), 'no password was used');
  assert.equal(claims.acr, ACR.mfa);
  assert.equal(context.cspViolations.length, 0, context.cspViolations.join('\n'));

  // The account page shows when the passkey was last used; the audit trail says how.
  await page.goto(`${idp.issuer}/account`);
  assert.match((await page.locator('#passkey-list').textContent()) ?? '', /Last used/);
  const { rows } = await idp.server.database.pool.query(
    `select details->>'method' as method from audit_events where event = 'login.success' and account_id = $1 order by id`,
    [user.id],
  );
  assert.deepEqual(
    rows.map((row) => row.method),
    [null, 'passkey'],
  );
});
