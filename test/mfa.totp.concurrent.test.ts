import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLatchkey } from './helpers/latchkey.ts';
import {
  awayFromStepEnd,
  beginFlow,
  enrolTotp,
  postSecondFactor,
  secondFactorsOf,
  submitPassword,
  totpCode,
} from './helpers/mfa.ts';

const BROWSERS = 8;

test('the same code submitted at once from several browsers signs in exactly one of them', async (t) => {
  // Room for every attempt: only the single use of the code may decide.
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '100', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const rp = await idp.rp(await idp.clients.create());
  const user = await idp.users.create();
  const { secret } = await enrolTotp(idp, user);
  const pages = await Promise.all(
    Array.from({ length: BROWSERS }, async () => {
      const { flow, step } = await beginFlow(idp, rp);
      return { agent: flow.agent, page: await submitPassword(idp, flow.agent, step, user.email) };
    }),
  );
  await awayFromStepEnd();
  const code = totpCode(secret);
  const responses = await Promise.all(pages.map(({ agent, page }) => postSecondFactor(idp, agent, page, code)));
  const statuses = responses.map((response) => response.status);
  // Accepted: the engine resumes the authorization (a redirect); refused: the page again, 401.
  assert.equal(statuses.filter((status) => status === 303 || status === 302).length, 1, statuses.join(','));
  assert.equal(statuses.filter((status) => status === 401).length, BROWSERS - 1, statuses.join(','));
});

test('twenty checks of one code at once through the service: exactly one is accepted', async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '100', DATABASE_POOL_SIZE: '10' });
  const user = await idp.users.create();
  const { secret } = await enrolTotp(idp, user);
  const factors = secondFactorsOf(idp);
  await awayFromStepEnd();
  const code = totpCode(secret);
  const results = await Promise.all(
    Array.from({ length: 20 }, () => factors.check(user.id, { method: 'totp', code }, 'en')),
  );
  assert.equal(results.filter((result) => result.ok).length, 1);
});
