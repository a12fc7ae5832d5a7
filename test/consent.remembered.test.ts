import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

test('consent is remembered per person and app', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  const first = await authorize(idp, rp, { email: user.email, scope: 'openid profile' });
  assert.ok(first.sawLogin);
  assert.ok(first.sawConsent, 'the first authorization asks');
  await exchange(rp, first);

  await t.test('the same browser session is not asked again for the same scopes', async () => {
    const again = await authorize(idp, rp, { email: user.email, scope: 'openid profile', agent: first.agent });
    assert.equal(again.sawLogin, false, 'still signed in');
    assert.equal(again.sawConsent, false);
    assert.equal((await exchange(rp, again)).claims()?.sub, user.id);
  });

  await t.test('a new browser session is not asked again after signing in', async () => {
    const fresh = await authorize(idp, rp, { email: user.email, scope: 'openid profile' });
    assert.ok(fresh.sawLogin, 'a new browser signs in');
    assert.equal(fresh.sawConsent, false, 'but the consent is remembered');
    assert.equal((await exchange(rp, fresh)).claims()?.sub, user.id);
  });

  await t.test('another person on the same app is asked', async () => {
    const other = await idp.users.create();
    const flow = await authorize(idp, rp, { email: other.email, scope: 'openid profile' });
    assert.ok(flow.sawConsent);
    assert.equal((await exchange(rp, flow)).claims()?.sub, other.id);
  });

  await t.test('new scopes ask again, for the new scopes', async () => {
    const more = await authorize(idp, rp, { email: user.email, scope: 'openid profile email', agent: first.agent });
    assert.ok(more.sawConsent);
    const tokens = await exchange(rp, more);
    assert.equal(tokens.claims()?.email, user.email);
    const after = await authorize(idp, rp, { email: user.email, scope: 'openid email', agent: first.agent });
    assert.equal(after.sawConsent, false, 'a subset of what was granted is not asked again');
    await exchange(rp, after);
  });

  await t.test('prompt=consent asks again', async () => {
    const forced = await authorize(idp, rp, {
      email: user.email,
      scope: 'openid profile',
      prompt: 'consent',
      agent: first.agent,
    });
    assert.ok(forced.sawConsent);
    await exchange(rp, forced);
  });
});

test('a first-party app never shows the consent page', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential', firstParty: true }), 'basic');

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid profile email' });
  assert.ok(flow.sawLogin);
  assert.equal(flow.sawConsent, false);
  const tokens = await exchange(rp, flow);
  assert.equal(tokens.claims()?.email, user.email);

  const forced = await authorize(idp, rp, { email: user.email, prompt: 'consent', agent: flow.agent });
  assert.equal(forced.sawConsent, false, 'not even with prompt=consent');
  assert.ok(forced.callback.searchParams.get('code'));
  await exchange(rp, forced);
});
