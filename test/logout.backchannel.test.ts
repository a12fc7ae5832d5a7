import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, type UserAgent } from './helpers/browser.ts';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { startLogoutReceiver as startReceiver, verifyLogoutToken } from './helpers/logout-receiver.ts';

async function signOut(idp: Latchkey, agent: UserAgent, rp: oidc.Configuration, idToken: string) {
  const page = await agent.navigate(oidc.buildEndSessionUrl(rp, { id_token_hint: idToken }));
  const xsrf = formField(page.body, 'xsrf');
  assert.ok(xsrf, 'logout confirmation page');
  return agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf, logout: 'yes' });
}

test('signing out sends a verifiable logout token to every app of the session that asked for one', async (t) => {
  const receiver = await startReceiver(t);
  const idp = await startLatchkey(t, { ALLOW_LOOPBACK_OUTBOUND: 'true' });
  const user = await idp.users.create();
  const first = await idp.clients.create(
    { name: 'First App' },
    { backchannel_logout_uri: `${receiver.base}/first/logout` },
  );
  const second = await idp.clients.create(
    { name: 'Second App' },
    { backchannel_logout_uri: `${receiver.base}/second/logout` },
  );
  const quiet = await idp.clients.create({ name: 'App Without Back Channel' });
  const firstRp = await idp.rp(first);

  const flow = await authorize(idp, firstRp, { email: user.email });
  const tokens = await exchange(firstRp, flow);
  for (const other of [second, quiet]) {
    const otherRp = await idp.rp(other);
    await exchange(otherRp, await authorize(idp, otherRp, { email: user.email, agent: flow.agent }));
  }

  const done = await signOut(idp, flow.agent, firstRp, tokens.id_token!);
  assert.equal(done.url.pathname, '/logout/success');

  const deliveries = await receiver.received(2);
  const byPath = new Map(deliveries.map((delivery) => [delivery.path, delivery]));
  assert.deepEqual([...byPath.keys()].sort(), ['/first/logout', '/second/logout']);
  for (const [path, clientId] of [
    ['/first/logout', first.clientId],
    ['/second/logout', second.clientId],
  ] as const) {
    const delivery = byPath.get(path)!;
    assert.equal(delivery.contentType, 'application/x-www-form-urlencoded');
    const payload = await verifyLogoutToken(idp, delivery.logoutToken, clientId);
    assert.equal(payload.sub, user.id);
  }
});

test('a failed delivery is retried, and the person is not kept waiting for the app', async (t) => {
  let release = () => {};
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  t.after(() => release());
  // First answer: 503 (the app is briefly down), after the hold; then 200.
  const receiver = await startReceiver(t, { answer: (count) => (count === 1 ? 503 : 200), hold });
  const idp = await startLatchkey(t, { ALLOW_LOOPBACK_OUTBOUND: 'true' });
  const user = await idp.users.create();
  const client = await idp.clients.create({}, { backchannel_logout_uri: `${receiver.base}/logout` });
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { email: user.email });
  const tokens = await exchange(rp, flow);

  const done = await signOut(idp, flow.agent, rp, tokens.id_token!);
  assert.equal(done.url.pathname, '/logout/success', 'signed out while the app has not answered yet');
  await receiver.received(1);

  release();
  const [firstTry, retry] = await receiver.received(2);
  assert.equal(retry!.logoutToken, firstTry!.logoutToken, 'the same logout token is sent again');
  await verifyLogoutToken(idp, retry!.logoutToken, client.clientId);
});

test('discovery advertises back-channel logout', async (t) => {
  const idp = await startLatchkey(t);
  const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.equal(metadata.backchannel_logout_supported, true);
});
