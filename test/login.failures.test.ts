import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { createAccountStore } from '../src/accounts/store.ts';
import { formField, UserAgent } from './helpers/browser.ts';
import { authorize, CALLBACK, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';

const INVALID = 'Email or password is incorrect.';

/** Opens /authorize in a new browser and submits the login form once; returns the page that came back. */
async function signInOnce(idp: Latchkey, rp: oidc.Configuration, email: string, password: string) {
  const agent = new UserAgent(idp.issuer);
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid',
    state: oidc.randomState(),
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const page = await agent.navigate(url);
  assert.equal(page.response.status, 200);
  const csrf = formField(page.body, 'csrf');
  assert.ok(csrf, 'the login page has a form');
  return agent.submitForm(new URL(`${page.url.pathname}/login`, idp.issuer), { csrf, email, password });
}

/** The text of the page's error alert, without markup. */
function alertOf(html: string): string | undefined {
  const inner = /<div class="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1];
  return inner
    ?.replace(/<[^>]*>/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

test('failed sign-ins', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  await t.test('a wrong password re-renders the login page with 401 and no code', async () => {
    const step = await signInOnce(idp, rp, user.email, 'not the password at all');
    assert.equal(step.response.status, 401);
    assert.equal(step.location, undefined, 'no redirect to the client');
    assert.equal(alertOf(step.body), INVALID);
    assert.doesNotMatch(step.body, /password is wrong|unknown|no account|not found/i);
    assert.ok(formField(step.body, 'csrf'), 'the form is shown again');
    assert.ok(step.body.includes(`value="${user.email}"`), 'the email is kept');
    assert.ok(!step.body.includes('not the password at all'), 'the password is not echoed');
  });

  await t.test('an unknown email gets exactly the same message', async () => {
    const step = await signInOnce(idp, rp, 'nobody@example.com', PASSWORD);
    assert.equal(step.response.status, 401);
    assert.equal(step.location, undefined);
    assert.equal(alertOf(step.body), INVALID);
  });

  await t.test('a disabled account gets no code, even with the right password', async () => {
    const disabled = await idp.users.create();
    await createAccountStore(idp.server.database.pool).setDisabled(disabled.id, true);
    const step = await signInOnce(idp, rp, disabled.email, PASSWORD);
    assert.equal(step.response.status, 401);
    assert.equal(step.location, undefined);
    assert.doesNotMatch(step.body, /code=/);
    await assert.rejects(authorize(idp, rp, { email: disabled.email }), /flow stopped/);
  });

  await t.test('the right password after a wrong one signs in', async () => {
    const flow = await authorize(idp, rp, { email: user.email });
    assert.ok(flow.callback.searchParams.get('code'));
  });
});
