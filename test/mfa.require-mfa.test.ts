import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACR } from '../src/mfa/acr.ts';
import { runCliOn } from './helpers/cli.ts';
import { CALLBACK, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  codesOnPage,
  finishFlow,
  pageOf,
  secretOnPage,
  submitEnrolment,
  submitPassword,
  submitSecondFactor,
  totpCode,
} from './helpers/mfa.ts';

async function latchkey(idp: Latchkey, args: string[]) {
  const run = await runCliOn(idp, args);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

test('clients --require-mfa: a person without a factor sets up an app during sign-in before the app gets a code', async (t) => {
  const idp = await startLatchkey(t);
  const created = await latchkey(idp, [
    'clients',
    'create',
    '--name',
    'Payroll',
    '--type',
    'confidential',
    '--redirect-uri',
    CALLBACK,
    '--require-mfa',
    '--json',
  ]);
  const clientId = String(created.client_id);
  assert.equal((await latchkey(idp, ['clients', 'show', clientId, '--json'])).require_mfa, true);
  const rp = await idp.rp({ clientId, clientSecret: String(created.client_secret) });
  const user = await idp.users.create();

  const { flow, step } = await beginFlow(idp, rp);
  const setup = await submitPassword(idp, flow.agent, step, user.email);
  assert.equal(pageOf(setup), 'enrol', 'the setup page, not the app');
  assert.equal(setup.location, undefined);
  // Leaving the setup for the app is refused: the interaction stays at this step.
  const resumed = await flow.agent.navigate(setup.url);
  assert.equal(pageOf(resumed), 'enrol');

  await awayFromStepEnd();
  const secret = secretOnPage(resumed.body);
  const codes = await submitEnrolment(idp, flow.agent, resumed, { code: totpCode(secret) });
  assert.equal(codesOnPage(codes.body).length, 10);
  const done = await submitEnrolment(idp, flow.agent, codes, { action: 'continue' });
  const tokens = await exchange(rp, await finishFlow(idp, flow, done, user.email));
  assert.equal(tokens.claims()!.acr, ACR.mfa);
  assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
  assert.deepEqual((await latchkey(idp, ['users', 'show', user.email, '--json'])).factors, [
    'totp',
    'recovery codes (10 unused)',
  ]);

  // The next sign-in asks for the code; the app keeps the requirement until --no-require-mfa.
  const next = await beginFlow(idp, rp);
  const codePage = await submitPassword(idp, next.flow.agent, next.step, user.email);
  assert.equal(pageOf(codePage), 'second-factor');
  await latchkey(idp, ['clients', 'update', clientId, '--no-require-mfa', '--json']);
  assert.equal((await latchkey(idp, ['clients', 'show', clientId, '--json'])).require_mfa, false);
  await awayFromStepEnd();
  const signedIn = await submitSecondFactor(idp, next.flow.agent, codePage, totpCode(secret, 1));
  assert.ok((await finishFlow(idp, next.flow, signedIn, user.email)).callback);
});

test('MFA_REQUIRED=true: every app; a person with no factor sets one up first', async (t) => {
  const idp = await startLatchkey(t, { MFA_REQUIRED: 'true' });
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { flow, step } = await beginFlow(idp, rp);
  const setup = await submitPassword(idp, flow.agent, step, user.email);
  assert.equal(pageOf(setup), 'enrol');
  await awayFromStepEnd();
  const codes = await submitEnrolment(idp, flow.agent, setup, { code: totpCode(secretOnPage(setup.body)) });
  const done = await submitEnrolment(idp, flow.agent, codes, { action: 'continue' });
  const tokens = await exchange(rp, await finishFlow(idp, flow, done, user.email));
  assert.equal(tokens.claims()!.acr, ACR.mfa);
});
