import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import { exchange, startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  enrolTotp,
  finishFlow,
  pageOf,
  submitPassword,
  submitSecondFactor,
  totpCode,
} from './helpers/mfa.ts';

test('discovery lists the acr values; ID tokens say pwd for a password alone and pwd, otp, mfa with an authenticator app', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.deepEqual(discovery.acr_values_supported, [ACR.pwd, ACR.mfa]);

  const plain = await idp.users.create();
  const first = await beginFlow(idp, rp);
  const afterPassword = await submitPassword(idp, first.flow.agent, first.step, plain.email);
  assert.notEqual(pageOf(afterPassword), 'second-factor', 'no factor: no second step');
  const pwdTokens = await exchange(rp, await finishFlow(idp, first.flow, afterPassword, plain.email));
  const pwdClaims = pwdTokens.claims()!;
  assert.deepEqual(pwdClaims.amr, ['pwd']);
  assert.equal(pwdClaims.acr, ACR.pwd);

  const user = await idp.users.create();
  const { secret } = await enrolTotp(idp, user);
  const second = await beginFlow(idp, rp);
  const codePage = await submitPassword(idp, second.flow.agent, second.step, user.email);
  assert.equal(pageOf(codePage), 'second-factor');
  assert.match(codePage.body, /autocomplete="one-time-code"/);
  assert.match(codePage.body, /inputmode="numeric"/);
  assert.doesNotMatch(codePage.body, new RegExp(user.id), 'the account id is not in the page');
  await awayFromStepEnd();
  const signedIn = await submitSecondFactor(idp, second.flow.agent, codePage, totpCode(secret));
  const tokens = await exchange(rp, await finishFlow(idp, second.flow, signedIn, user.email));
  const claims = tokens.claims()!;
  assert.equal(claims.sub, user.id);
  assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(claims.acr, ACR.mfa);
});
