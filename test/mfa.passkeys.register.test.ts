import assert from 'node:assert/strict';
import { after } from 'node:test';
import { assertAccessible, launchChromium, newContext, overflowsHorizontally, test } from './helpers/chromium.ts';
import { PASSWORD } from './helpers/latchkey.ts';
import { secondFactorsOf } from './helpers/mfa.ts';
import { addPasskeyOnAccountPage, addVirtualAuthenticator, startPasskeyLatchkey } from './helpers/passkeys.ts';

const browser = await launchChromium();
after(() => browser.close());

const VIEWPORTS = [
  { width: 375, height: 740 },
  { width: 1280, height: 800 },
];

test('a person adds two passkeys on the account page (password asked first), sees them listed, and removes one with the password', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const user = await idp.users.create({ name: 'Alex Martin' });
  const context = await newContext(t, browser);
  const page = await context.newPage();
  const authenticator = await addVirtualAuthenticator(page);

  // The first factor of the account: its recovery codes are shown once, before the page goes on.
  const codes = await addPasskeyOnAccountPage(page, idp, user.email, 'Work laptop', async () => {
    assert.equal(await page.locator('#passkey-recovery-heading').textContent(), 'Save your recovery codes');
    assert.match((await page.locator('#passkey-recovery').textContent()) ?? '', /If you lose your passkey/);
    const download = await page.locator('#passkey-recovery-download').getAttribute('href');
    assert.match(decodeURIComponent(download ?? ''), /^data:text\/plain;charset=utf-8,Recovery codes/);
    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await assertAccessible(page, `recovery codes of a first passkey ${viewport.width}px`);
      assert.equal(await overflowsHorizontally(page), false, `${viewport.width}px: no sideways scrolling`);
    }
    // Keyboard: the heading has the focus, and Tab reaches the download and then "continue".
    assert.equal(await page.evaluate('document.activeElement?.id'), 'passkey-recovery-heading');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'passkey-recovery-download');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'passkey-recovery-continue');
  });
  assert.equal(codes?.length, (await secondFactorsOf(idp).summary(user.id)).recoveryCodes);
  assert.ok(codes!.every((code) => /^\S{6,}$/.test(code)));
  assert.match((await page.locator('[role=status]').first().textContent()) ?? '', /passkey was added/);
  assert.match((await page.locator('#recovery-status').textContent()) ?? '', new RegExp(`${codes!.length} unused`));
  const [credential] = await authenticator.credentials();
  assert.ok(credential?.isResidentCredential, 'a discoverable passkey, for sign-in without an email');
  assert.equal(credential?.rpId, 'localhost', "the RP ID is the issuer's host");

  // A wrong password gets no registration challenge: the browser is never asked.
  await page.locator('#passkey_name').fill('Second key');
  await page.locator('#passkey_password').fill('not the password');
  await page.locator('#passkey-add button[type=submit]').click();
  await page.locator('#passkey-message.error').waitFor();
  assert.match((await page.locator('#passkey-message').textContent()) ?? '', /current password is incorrect/);
  assert.equal((await authenticator.credentials()).length, 1);

  // The same authenticator cannot hold a second passkey of this account (excludeCredentials).
  await page.locator('#passkey_password').fill(PASSWORD);
  await page.locator('#passkey-add button[type=submit]').click();
  await page.locator('#passkey-message.error').waitFor();
  assert.match((await page.locator('#passkey-message').textContent()) ?? '', /already registered/);

  // Another authenticator (a phone, say) adds a second one.
  const phone = await context.newPage();
  await addVirtualAuthenticator(phone);
  assert.equal(
    await addPasskeyOnAccountPage(phone, idp, user.email, 'Phone'),
    undefined,
    'codes come with the first factor only',
  );
  const rows = phone.locator('#passkey-list li');
  assert.equal(await rows.count(), 2);
  assert.match((await rows.nth(0).textContent()) ?? '', /Work laptop[\s\S]*Added [\s\S]*UTC[\s\S]*Not used yet/);
  assert.match((await rows.nth(1).textContent()) ?? '', /Phone/);
  const stored = await idp.server.database.pool.query(
    `select name, sign_count, transports, device_type, backed_up from account_factors where account_id = $1 and kind = 'webauthn' order by created_at`,
    [user.id],
  );
  assert.deepEqual(
    stored.rows.map((row) => row.name),
    ['Work laptop', 'Phone'],
  );
  assert.equal(stored.rows[0].device_type, 'singleDevice');
  assert.equal(stored.rows[0].backed_up, false);
  assert.equal(context.cspViolations.length, 0, context.cspViolations.join('\n'));

  // Axe-clean with the passkeys listed, at both widths, without sideways scrolling.
  for (const viewport of VIEWPORTS) {
    await phone.setViewportSize(viewport);
    await assertAccessible(phone, `account page with passkeys ${viewport.width}px`);
    assert.equal(await overflowsHorizontally(phone), false, `${viewport.width}px: no sideways scrolling`);
  }

  // Removal asks for the password again.
  assert.match((await phone.locator('#passkey_remove_which option').first().textContent()) ?? '', /Work laptop/);
  await phone.locator('#passkey_remove_which').selectOption({ index: 0 });
  await phone.locator('#passkey_remove_password').fill('not the password');
  await phone.locator('#passkey-remove button[type=submit]').click();
  await phone.waitForLoadState();
  assert.match((await phone.locator('#passkeys [role=alert]').textContent()) ?? '', /current password is incorrect/);
  await assertAccessible(phone, 'account page with a passkey error');
  assert.equal(await phone.locator('#passkey-list li').count(), 2);

  await phone.locator('#passkey_remove_which').selectOption({ index: 0 });
  await phone.locator('#passkey_remove_password').fill(PASSWORD);
  await phone.locator('#passkey-remove button[type=submit]').click();
  await phone.waitForURL(/done=passkey_removed/);
  assert.equal(await phone.locator('#passkey-list li').count(), 1);
  assert.doesNotMatch((await phone.locator('#passkey-list').textContent()) ?? '', /Work laptop/);
  assert.match((await phone.locator('#activity').textContent()) ?? '', /Removed a passkey/);
});

test('the account page in French lists passkeys and passes axe; without JavaScript it says adding one needs it', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const user = await idp.users.create();
  const context = await newContext(t, browser, { locale: 'fr-FR' });
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  const codes = await addPasskeyOnAccountPage(page, idp, user.email, 'Ordinateur', async () => {
    assert.match((await page.locator('#passkey-recovery').textContent()) ?? '', /Si vous perdez votre clé d’accès/);
    await assertAccessible(page, 'recovery codes of a first passkey, fr');
  });
  assert.equal(await page.locator('#passkeys-heading').textContent(), 'Clés d’accès');
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize(viewport);
    await assertAccessible(page, `account page fr ${viewport.width}px`);
  }

  const noScript = await newContext(t, browser, { javaScriptEnabled: false });
  const plain = await noScript.newPage();
  await plain.goto(`${idp.issuer}/account`);
  await plain.locator('#email').fill(user.email);
  await plain.locator('#password').fill(PASSWORD);
  // The passkey is a second factor now; without JavaScript a recovery code shown with it answers for it.
  const [code] = codes ?? [];
  assert.ok(code, 'a first set of recovery codes');
  await plain.locator('form[action$="/login"] button[type=submit]').click();
  await plain.locator('#recovery_code').waitFor();
  assert.equal(await plain.locator('#passkey-sign-in').isVisible(), false, 'no passkey button without JavaScript');
  await plain.locator('#recovery_code').fill(code);
  await plain.locator('#recovery_code').press('Enter');
  await plain.waitForURL(`${idp.issuer}/account`);
  assert.equal(await plain.locator('#passkey-add').isVisible(), false);
  assert.match((await plain.locator('#passkey-needs-script').textContent()) ?? '', /needs JavaScript/);
  assert.match((await plain.locator('#passkey-list').textContent()) ?? '', /Ordinateur/);
});
