import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { formField, type UserAgent } from './helpers/browser.ts';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Bounds every wait for a delivery; deliveries normally arrive in milliseconds. */
const WAIT_MS = 15_000;

interface Delivery {
  path: string;
  logoutToken: string;
  contentType: string | undefined;
}

/**
 * A client's back-channel logout endpoint on 127.0.0.1. `answer` picks the status of each
 * request; `hold` keeps a request unanswered until released, to show the person is not kept waiting.
 */
async function startReceiver(
  t: TestContext,
  options: { answer?: (count: number) => number; hold?: Promise<void> } = {},
) {
  const deliveries: Delivery[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      deliveries.push({
        path: req.url ?? '',
        logoutToken: body.get('logout_token') ?? '',
        contentType: req.headers['content-type'],
      });
      for (const wake of waiters.splice(0)) wake();
      const status = options.answer?.(deliveries.length) ?? 200;
      void (options.hold ?? Promise.resolve()).then(() => res.writeHead(status).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    deliveries,
    /** Resolves once `count` requests arrived; fails after WAIT_MS. */
    async received(count: number): Promise<Delivery[]> {
      const deadline = Date.now() + WAIT_MS;
      while (deliveries.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} logout deliveries, got ${deliveries.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return deliveries.slice(0, count);
    },
  };
}

async function signOut(idp: Latchkey, agent: UserAgent, rp: oidc.Configuration, idToken: string) {
  const page = await agent.navigate(oidc.buildEndSessionUrl(rp, { id_token_hint: idToken }));
  const xsrf = formField(page.body, 'xsrf');
  assert.ok(xsrf, 'logout confirmation page');
  return agent.submitForm(`${idp.issuer}/logout/confirm`, { xsrf, logout: 'yes' });
}

async function verifyLogoutToken(idp: Latchkey, token: string, clientId: string) {
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)), {
    issuer: idp.issuer,
    audience: clientId,
    typ: 'logout+jwt',
    maxTokenAge: '2 minutes',
  });
  assert.equal(protectedHeader.typ, 'logout+jwt');
  assert.deepEqual(payload.events, { [BACKCHANNEL_EVENT]: {} });
  assert.ok(payload.jti, 'a jti lets the client refuse a replay');
  assert.equal(payload.nonce, undefined, 'a logout token never carries a nonce');
  return payload;
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
