import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formField, UserAgent } from './helpers/browser.ts';
import { type Latchkey, PASSWORD, signInFrom, startLatchkey } from './helpers/latchkey.ts';
import { awayFromStepEnd, codesOnPage, secondFactorsOf, secretOnPage, totpCode } from './helpers/mfa.ts';

async function signedIn(idp: Latchkey, email: string) {
  const agent = new UserAgent(idp.issuer);
  const step = await signInFrom(idp, agent, agent.navigate('/account'), { email });
  assert.equal(new URL(step.url).pathname, '/account');
  return { agent, csrf: formField(step.body, 'csrf')!, page: step.body };
}

test('account page: set up an authenticator app (confirmed with a code), recovery codes shown once, new codes, remove with the password', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const { agent, csrf, page } = await signedIn(idp, user.email);
  assert.match(page, /id="totp-status"/);
  assert.match(page, /action="\/account\/mfa\/totp"/);
  assert.doesNotMatch(page, /action="\/account\/mfa\/recovery-codes"/, 'no codes to remake without a factor');

  // Setting up an app (which would replace one) needs the password.
  const withoutPassword = await agent.submitForm('/account/mfa/totp', { csrf });
  assert.equal(withoutPassword.response.status, 400);
  const wrongPassword = await agent.submitForm('/account/mfa/totp', { csrf, password: 'not the password' });
  assert.equal(wrongPassword.response.status, 401);
  assert.doesNotMatch(wrongPassword.body, /otpauth:/);
  const setup = await agent.submitForm('/account/mfa/totp', { csrf, password: PASSWORD });
  assert.equal(setup.response.status, 200);
  assert.match(setup.body, /<img class="qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
  const secret = secretOnPage(setup.body);
  assert.match(setup.body, new RegExp(`otpauth://totp/[^<]*secret=${secret}`));
  const factorId = formField(setup.body, 'factor_id')!;
  assert.equal((await secondFactorsOf(idp).summary(user.id)).totp, false, 'not on before a code confirms it');

  const wrong = await agent.submitForm('/account/mfa/totp/confirm', { csrf, factor_id: factorId, code: '000000' });
  assert.equal(wrong.response.status, 400);
  assert.equal(secretOnPage(wrong.body), secret);

  await awayFromStepEnd();
  const confirmed = await agent.submitForm('/account/mfa/totp/confirm', {
    csrf,
    factor_id: factorId,
    code: totpCode(secret),
  });
  assert.equal(confirmed.response.status, 200);
  const codes = codesOnPage(confirmed.body);
  assert.equal(codes.length, 10);
  const download = /href="(data:text\/plain;charset=utf-8,[^"]+)" download="recovery-codes.txt"/.exec(confirmed.body);
  assert.ok(download);
  const text = decodeURIComponent(download[1]!.replace(/^data:text\/plain;charset=utf-8,/, '').replace(/&#43;/g, '+'));
  for (const code of codes) assert.ok(text.includes(code), 'the download holds every code');

  // The same setup cannot be confirmed twice.
  const twice = await agent.submitForm('/account/mfa/totp/confirm', {
    csrf,
    factor_id: factorId,
    code: totpCode(secret, 1),
  });
  assert.equal(twice.response.status, 400);

  const account = await agent.navigate('/account');
  assert.match(account.body, /Authenticator app: on\./);
  assert.match(account.body, /10 unused recovery codes left\./);
  assert.ok(!account.body.includes(secret) && !codes.some((code) => account.body.includes(code)), 'shown once');

  const refused = await agent.submitForm('/account/mfa/recovery-codes', { csrf, password: 'not my password' });
  assert.equal(refused.response.status, 401);
  const fresh = await agent.submitForm('/account/mfa/recovery-codes', { csrf, password: PASSWORD });
  const newCodes = codesOnPage(fresh.body);
  assert.equal(newCodes.length, 10);
  assert.ok(!newCodes.some((code) => codes.includes(code)));
  const factors = secondFactorsOf(idp);
  assert.deepEqual(await factors.check(user.id, { method: 'recovery', code: codes[0]! }, 'en'), {
    ok: false,
    reason: 'invalid',
  });

  const noPassword = await agent.submitForm('/account/mfa/totp/remove', { csrf });
  assert.equal(noPassword.response.status, 400);
  const removed = await agent.submitForm('/account/mfa/totp/remove', { csrf, password: PASSWORD });
  assert.equal(removed.url.pathname, '/account');
  assert.match(removed.body, /The authenticator app was removed\./);
  assert.deepEqual(await factors.summary(user.id), { totp: false, passkeys: 0, recoveryCodes: 0, hasFactor: false });
});

test('account page in French: the second-factor section and the setup page', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const { agent, csrf } = await signedIn(idp, user.email);
  const page = await agent.navigate('/account', { headers: { 'accept-language': 'fr' } });
  assert.match(page.body, /Validation en deux étapes/);
  const setup = await agent.request('/account/mfa/totp', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'fr' },
    body: new URLSearchParams({ csrf, password: PASSWORD }).toString(),
  });
  assert.match(await setup.text(), /Configurer une application d’authentification/);
});
