import assert from 'node:assert/strict';
import { after } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import {
  assertAccessible,
  authorizationRequest,
  finishAtApp,
  launchChromium,
  newContext,
  registerApp,
  startRelyingParty,
  submitLogin,
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

test('a passkey as the second factor: password, then the second-factor page asks for the passkey; amr pwd, hwk|swk, user, mfa', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const app = await startRelyingParty(t);
  const { rp } = await registerApp(idp, app, 'Acme Notes');
  const user = await idp.users.create({ name: 'Sam Rivera' });
  const context = await newContext(t, browser);
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  // The password path, not the autofill's passwordless one.
  await withoutAutofill(page);
  await addPasskeyOnAccountPage(page, idp, user.email, 'Phone');
  await signOut(page, idp);

  const request = await authorizationRequest(rp, app);
  await page.goto(request.url.href);
  await submitLogin(page, user.email);
  // No authenticator app: the passkey is the factor this page offers.
  await page.locator('h1', { hasText: 'Two-step verification' }).waitFor();
  assert.equal(await page.locator('#code').count(), 0, 'no code field without an authenticator app');
  const button = page.locator('#passkey-sign-in #passkey-button');
  await button.waitFor({ state: 'visible' });
  await assertAccessible(page, 'second-factor page with a passkey');
  await button.click();
  await consentAndReturn(page, app);

  const claims = (await finishAtApp(rp, request, page.url())).claims()!;
  assert.equal(claims.sub, user.id);
  const amr = claims.amr as string[];
  assert.ok(amr.includes('pwd'), `the password counts: ${amr}`);
  assert.ok(amr.includes('hwk') || amr.includes('swk'), `amr names the key: ${amr}`);
  assert.ok(amr.includes('user') && amr.includes('mfa'), `${amr}`);
  assert.equal(claims.acr, ACR.mfa);
  assert.equal(context.cspViolations.length, 0, context.cspViolations.join('\n'));
  const { rows } = await idp.server.database.pool.query(
    `select details->>'second_factor' as factor from audit_events where event = 'login.success' and account_id = $1 order by id`,
    [user.id],
  );
  assert.equal(rows.at(-1)?.factor, 'passkey');
});
