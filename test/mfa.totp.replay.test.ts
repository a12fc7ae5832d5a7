import assert from 'node:assert/strict';
import { test } from 'node:test';
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

test('a code that signed in once is refused when replayed in another sign-in (RFC 6238 §5.2), and so is an older one', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { secret } = await enrolTotp(idp, user);
  await awayFromStepEnd();
  const code = totpCode(secret);

  const first = await beginFlow(idp, rp);
  const firstPage = await submitPassword(idp, first.flow.agent, first.step, user.email);
  const accepted = await submitSecondFactor(idp, first.flow.agent, firstPage, code);
  const tokens = await exchange(rp, await finishFlow(idp, first.flow, accepted, user.email));
  assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);

  // Another browser that has the password and saw the code (a phishing proxy, a shoulder).
  const second = await beginFlow(idp, rp);
  const secondPage = await submitPassword(idp, second.flow.agent, second.step, user.email);
  const replayed = await submitSecondFactor(idp, second.flow.agent, secondPage, code);
  assert.equal(replayed.response.status, 401);
  assert.equal(pageOf(replayed), 'second-factor');
  assert.match(replayed.body, /id="second-factor-error"/);
  assert.equal(replayed.location, undefined, 'no code for the app');

  // The code of the step before the one used: inside the drift window, but older than the last use.
  const older = await submitSecondFactor(idp, second.flow.agent, replayed, totpCode(secret, -1));
  assert.equal(older.response.status, 401);

  // The next step's code works (drift +1), once.
  const next = await submitSecondFactor(idp, second.flow.agent, older, totpCode(secret, 1));
  const again = await exchange(rp, await finishFlow(idp, second.flow, next, user.email));
  assert.equal(again.claims()!.sub, user.id);
});
