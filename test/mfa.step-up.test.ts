import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import { exchange, startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  codesOnPage,
  enrolTotp,
  finishFlow,
  pageOf,
  secretOnPage,
  submitEnrolment,
  submitPassword,
  submitSecondFactor,
  totpCode,
} from './helpers/mfa.ts';

const MFA = { acr_values: ACR.mfa };

test('acr_values=mfa inside a password-only session asks for the second factor without the password again', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();

  // Signed in with a password alone (no factor yet).
  const first = await beginFlow(idp, rp);
  const signedIn = await submitPassword(idp, first.flow.agent, first.step, user.email);
  const pwd = await exchange(rp, await finishFlow(idp, first.flow, signedIn, user.email));
  assert.equal(pwd.claims()!.acr, ACR.pwd);

  // The person sets up an app (the account page); the session is still a password-only one.
  const { secret } = await enrolTotp(idp, user);
  const agent = first.flow.agent;

  // Without acr_values: the session is enough, no page at all.
  const silent = await beginFlow(idp, rp, { agent });
  assert.ok(silent.step.location, 'no prompt without acr_values');

  // prompt=none with a step-up needed: login_required back to the app.
  const none = await beginFlow(idp, rp, { agent, params: { ...MFA, prompt: 'none' } });
  assert.equal(none.step.location?.searchParams.get('error'), 'login_required');

  // acr_values=mfa: the second-factor page straight away, then tokens with acr mfa.
  const stepUp = await beginFlow(idp, rp, { agent, params: MFA });
  assert.equal(pageOf(stepUp.step), 'second-factor');
  assert.doesNotMatch(stepUp.step.body, /name="password"/);
  await awayFromStepEnd();
  const done = await submitSecondFactor(idp, agent, stepUp.step, totpCode(secret));
  const tokens = await exchange(rp, await finishFlow(idp, stepUp.flow, done, user.email));
  const claims = tokens.claims()!;
  assert.equal(claims.sub, user.id);
  assert.equal(claims.acr, ACR.mfa);
  assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);

  // The session is now multi-factor: asking again needs no page.
  const again = await beginFlow(idp, rp, { agent, params: MFA });
  assert.ok(again.step.location);

  // prompt=login still asks for the password, then the second factor.
  const relogin = await beginFlow(idp, rp, { agent, params: { ...MFA, prompt: 'login' } });
  assert.equal(pageOf(relogin.step), 'login');
  const codePage = await submitPassword(idp, agent, relogin.step, user.email);
  assert.equal(pageOf(codePage), 'second-factor');

  // max_age=0 too.
  const aged = await beginFlow(idp, rp, { agent, params: { max_age: '0' } });
  assert.equal(pageOf(aged.step), 'login');
});

test('acr_values=mfa for a person without a factor: set one up inside the session, then the app gets acr mfa', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const first = await beginFlow(idp, rp);
  await finishFlow(idp, first.flow, await submitPassword(idp, first.flow.agent, first.step, user.email), user.email);

  const agent = first.flow.agent;
  const stepUp = await beginFlow(idp, rp, { agent, params: MFA });
  assert.equal(pageOf(stepUp.step), 'enrol');
  assert.match(stepUp.step.body, /<img class="qr" src="data:image\/svg\+xml;base64,/);
  assert.match(stepUp.step.body, /otpauth:\/\/totp\//);
  const secret = secretOnPage(stepUp.step.body);

  const wrong = await submitEnrolment(idp, agent, stepUp.step, { code: '000000' });
  assert.equal(wrong.response.status, 400);
  assert.equal(secretOnPage(wrong.body), secret, 'the same setup, tried again');

  await awayFromStepEnd();
  const codes = await submitEnrolment(idp, agent, wrong, { code: totpCode(secret) });
  assert.equal(pageOf(codes), 'recovery-codes');
  assert.equal(codesOnPage(codes.body).length, 10);
  assert.match(codes.body, /href="data:text\/plain;charset=utf-8,[^"]+" download=/);

  const done = await submitEnrolment(idp, agent, codes, { action: 'continue' });
  const tokens = await exchange(rp, await finishFlow(idp, stepUp.flow, done, user.email));
  assert.equal(tokens.claims()!.acr, ACR.mfa);
});
