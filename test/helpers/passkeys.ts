import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { backAtApp, clickConsent, type RelyingParty, submitLogin } from './chromium.ts';
import { freePort, type Latchkey, PASSWORD, startLatchkey } from './latchkey.ts';

/**
 * Passkeys in Chromium. WebAuthn refuses an IP address as RP ID, so these servers are named
 * http://localhost:<port> (still the loopback server on 127.0.0.1). The authenticator is the
 * DevTools virtual one: CTAP2, built in ("internal"), resident keys, user verification that passes.
 */
export async function startPasskeyLatchkey(t: TestContext, env: Record<string, string> = {}): Promise<Latchkey> {
  const port = await freePort();
  return startLatchkey(t, { ISSUER: `http://localhost:${port}`, ...env }, { port });
}

/** Adds a virtual authenticator to the page's tab; returns a way to read the credentials it holds. */
export async function addVirtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
  };
}

/**
 * Signs in to /account with the password (when not signed in yet) and adds a passkey named `name`.
 * Returns the recovery codes the page showed (a first factor comes with them), then went on.
 */
export async function addPasskeyOnAccountPage(
  page: Page,
  idp: Latchkey,
  email: string,
  name: string,
  /** Runs while the recovery codes are shown, before the page goes on. */
  whileCodesShown?: () => Promise<void>,
): Promise<string[] | undefined> {
  await page.goto(`${idp.issuer}/account`);
  if (!page.url().startsWith(`${idp.issuer}/account`)) {
    await submitLogin(page, email);
    await page.waitForURL(`${idp.issuer}/account`);
  }
  await page.locator('#passkey_name').fill(name);
  await page.locator('#passkey_password').fill(PASSWORD);
  await page.locator('#passkey-add button[type=submit]').click();
  const recovery = page.locator('#passkey-recovery');
  await Promise.race([page.waitForURL(/done=passkey_added/), recovery.waitFor()]);
  let codes: string[] | undefined;
  if (await recovery.isVisible()) {
    codes = await page.locator('#passkey-recovery-codes li').allTextContents();
    await whileCodesShown?.();
    await page.locator('#passkey-recovery-continue').click();
    await page.waitForURL(/done=passkey_added/);
  }
  assert.match((await page.locator('#passkey-list').textContent()) ?? '', new RegExp(name));
  return codes;
}

/** Signs the browser out at /logout (the confirmation page's button). */
export async function signOut(page: Page, idp: Latchkey) {
  await page.goto(`${idp.issuer}/logout`);
  await page.locator('button[name=logout][value=yes]').click();
  await page.waitForLoadState();
}

/**
 * Chromium's virtual authenticator answers the autofill request (conditional mediation) at once with
 * the passkey it holds, as if the person picked it: a page would sign in as soon as it opens. Tests
 * of the button (or of a refusal) turn the autofill off in this page, as a browser without it is.
 */
export async function withoutAutofill(page: Page) {
  await page.addInitScript(
    "Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: async () => false })",
  );
}

/** After a passkey sign-in: the consent page when it shows (allowed), then back at the app. */
export async function consentAndReturn(page: Page, app: RelyingParty) {
  const consent = page.locator('form[action$="/consent"]');
  await consent.or(page.locator('#query')).waitFor();
  if (await consent.count()) await clickConsent(page, 'allow');
  await backAtApp(page, app);
}
