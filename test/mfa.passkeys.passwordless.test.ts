import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ACR } from '../src/mfa/acr.ts';
import {
  assertAccessible,
  authorizationRequest,
  finishAtApp,
  launchChromium,
  newContext,
  registerApp,
  startRelyingParty,
  test,
} from './helpers/chromium.ts';
import {
  addPasskeyOnAccountPage,
  addVirtualAuthenticator,
  consentAndReturn,
  signOut,
  startPasskeyLatchkey,
  withoutAutofill,
} from './helpers/passkeys.ts';

const browser = await launchChromium();
after(() => browser.close());

/** UPDATE_SCREENSHOTS=1 retakes the README's pictures of the passkey pages. */
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

test('register a passkey, sign out, sign in passwordless with it: the ID token says hwk or swk, user and mfa, acr mfa', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');
  const user = await idp.users.create({ name: 'Alex Martin' });
  const context = await newContext(t, browser);
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  await withoutAutofill(page);

  await addPasskeyOnAccountPage(page, idp, user.email, 'Work laptop');
  await signOut(page, idp);

  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  assert.equal(await page.locator('#email').getAttribute('autocomplete'), 'username webauthn', 'conditional UI');
  const button = page.locator('#passkey-button');
  await button.waitFor({ state: 'visible' });
  assert.equal(await button.textContent(), 'Sign in with a passkey');
  if (UPDATE_SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}passkey-sign-in.png`, animations: 'disabled' });
  for (const viewport of [
    { width: 375, height: 740 },
    { width: 1280, height: 800 },
  ]) {
    await page.setViewportSize(viewport);
    await assertAccessible(page, `sign-in page with the passkey button ${viewport.width}px`);
  }
  await button.click();
  await consentAndReturn(page, app);

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
  if (UPDATE_SCREENSHOTS)
    await page.locator('#passkeys').screenshot({ path: `${SCREENSHOTS}passkeys-account.png`, animations: 'disabled' });
  const { rows } = await idp.server.database.pool.query(
    `select details->>'method' as method from audit_events where event = 'login.success' and account_id = $1 order by id`,
    [user.id],
  );
  assert.deepEqual(
    rows.map((row) => row.method),
    [null, 'passkey'],
  );
});

test('conditional UI: the email field’s autofill offers the passkey, and picking it signs in without a click on the button', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');
  const user = await idp.users.create();
  const context = await newContext(t, browser);
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  await addPasskeyOnAccountPage(page, idp, user.email, 'Work laptop');
  await signOut(page, idp);

  // The virtual authenticator picks its passkey from the autofill as soon as the page asks.
  const request = await authorizationRequest(rp, app);
  const answered = page.waitForRequest((sent) => sent.url().endsWith('/passkey/login'));
  await page.goto(request.url.href);
  await answered;
  await consentAndReturn(page, app);
  const claims = (await finishAtApp(rp, request, page.url())).claims()!;
  assert.equal(claims.sub, user.id);
  assert.equal(claims.acr, ACR.mfa);
  assert.ok((claims.amr as string[]).includes('mfa'));
  assert.equal(context.cspViolations.length, 0, context.cspViolations.join('\n'));
});
