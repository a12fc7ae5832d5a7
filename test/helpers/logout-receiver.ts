import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Latchkey } from './latchkey.ts';

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
export async function startLogoutReceiver(
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

/** A logout token as OIDC Back-Channel Logout 1.0 §2.4 says it must be; returns its payload. */
export async function verifyLogoutToken(idp: Latchkey, token: string, clientId: string) {
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
