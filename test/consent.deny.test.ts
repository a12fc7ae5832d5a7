import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';

test('Deny on the consent page sends access_denied with state to the registered redirect URI', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  const denied = await authorize(idp, rp, { email: user.email, consent: 'deny' });
  assert.ok(denied.sawConsent);
  assert.equal(`${denied.callback.origin}${denied.callback.pathname}`, CALLBACK);
  assert.equal(denied.callback.searchParams.get('error'), 'access_denied');
  assert.equal(denied.callback.searchParams.get('state'), denied.state);
  assert.equal(denied.callback.searchParams.get('iss'), idp.issuer);
  assert.equal(denied.callback.searchParams.get('code'), null);

  // Nothing was remembered: the next authorization asks again, and Allow then works.
  const retry = await authorize(idp, rp, { email: user.email, agent: denied.agent });
  assert.equal(retry.sawLogin, false);
  assert.ok(retry.sawConsent, 'a denial is not remembered as consent');
  assert.equal((await exchange(rp, retry)).claims()?.sub, user.id);
});
