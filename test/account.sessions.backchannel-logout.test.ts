import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formField, UserAgent } from './helpers/browser.ts';
import { authorize, exchange, signInFrom, startLatchkey } from './helpers/latchkey.ts';
import { startLogoutReceiver, verifyLogoutToken } from './helpers/logout-receiver.ts';

test('signing out another session on the account page tells its apps over the back channel, as /logout does', async (t) => {
  const receiver = await startLogoutReceiver(t);
  const idp = await startLatchkey(t, { ALLOW_LOOPBACK_OUTBOUND: 'true' });
  const user = await idp.users.create();
  const client = await idp.clients.create(
    { name: 'Notes' },
    {
      backchannel_logout_uri: `${receiver.base}/logout`,
      backchannel_logout_session_required: true,
    },
  );
  const rp = await idp.rp(client);

  // Two browsers signed in to the app: a laptop and a phone.
  const laptop = await exchange(rp, await authorize(idp, rp, { email: user.email }));
  const phone = await exchange(rp, await authorize(idp, rp, { email: user.email }));
  const sids = [laptop, phone].map((tokens) => tokens.claims()?.sid as string);
  assert.ok(sids.every(Boolean) && sids[0] !== sids[1], 'each session has its own sid for the app');

  // A third browser on the account page: it ends one session, then all the others.
  const desk = new UserAgent(idp.issuer);
  const page = await signInFrom(idp, desk, desk.navigate('/account'), { email: user.email });
  const csrf = formField(page.body, 'csrf')!;
  const one = formField(page.body, 'session')!;
  assert.equal((await desk.submitForm('/account/sessions/end', { csrf, session: one })).response.status, 200);
  const [first] = await receiver.received(1);
  const firstPayload = await verifyLogoutToken(idp, first!.logoutToken, client.clientId);
  assert.equal(firstPayload.sub, user.id);
  assert.ok(sids.includes(firstPayload.sid as string), 'the sid of the ended session');

  assert.equal((await desk.submitForm('/account/sessions/end-others', { csrf })).response.status, 200);
  const deliveries = await receiver.received(2);
  const secondPayload = await verifyLogoutToken(idp, deliveries[1]!.logoutToken, client.clientId);
  assert.deepEqual(
    [firstPayload.sid, secondPayload.sid].sort(),
    [...sids].sort(),
    'each ended session, once; the account page’s own session is not ended',
  );
  assert.equal((await desk.navigate('/account')).url.pathname, '/account', 'this browser stays signed in');
});
