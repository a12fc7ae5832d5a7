import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import { exchange, startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  enrolTotp,
  finishFlow,
  submitPassword,
  submitSecondFactor,
  totpCode,
} from './helpers/mfa.ts';

test('a code one step behind (set-up) or one step ahead (sign-in) is accepted; two steps either way are not', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  // enrolTotp confirms the app with the code of the previous step: drift -1 accepted.
  const { secret } = await enrolTotp(idp, user);
  await awayFromStepEnd();

  const { flow, step } = await beginFlow(idp, rp);
  const page = await submitPassword(idp, flow.agent, step, user.email);
  for (const steps of [2, -2, 3]) {
    const refused = await submitSecondFactor(idp, flow.agent, page, totpCode(secret, steps));
    assert.equal(refused.response.status, 401, `${steps} steps away`);
  }
  const ahead = await submitSecondFactor(idp, flow.agent, page, totpCode(secret, 1));
  const tokens = await exchange(rp, await finishFlow(idp, flow, ahead, user.email));
  assert.equal(tokens.claims()!.acr, ACR.mfa);
});
