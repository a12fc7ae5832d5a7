import assert from 'node:assert/strict';
import { get } from 'node:http';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { startLatchkey } from './helpers/latchkey.ts';

/** The headers a client can read, without those that differ on every response. */
function headersOf(res: Response): Record<string, string> {
  const headers = Object.fromEntries(res.headers);
  delete headers.date;
  delete headers['x-request-id'];
  return headers;
}

test('discovery and /jwks answer alike on every request: same bytes, same headers, CORS open to any origin', async (t) => {
  const idp = await startLatchkey(t);
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks']) {
    // The first answer comes from the engine, the later ones from its memo.
    const answers = [];
    for (const origin of [undefined, 'https://spa.example', undefined, 'https://other.example']) {
      const res = await fetch(`${idp.issuer}${path}`, { headers: origin ? { origin } : {} });
      assert.equal(res.status, 200, path);
      answers.push({ origin, headers: headersOf(res), body: await res.text() });
    }
    const [first, ...rest] = answers;
    for (const answer of rest) assert.equal(answer.body, first!.body, `${path}: the same document`);
    for (const { origin, headers } of answers) {
      assert.equal(headers['access-control-allow-origin'], origin ?? '*', `${path}: CORS for ${origin ?? 'no origin'}`);
      assert.match(headers.vary ?? '', /Origin/, `${path}: Vary: Origin`);
      assert.equal(headers['content-security-policy'], first!.headers['content-security-policy'], path);
    }
    assert.deepEqual(answers[2]!.headers, first!.headers, `${path}: a replayed answer has the engine's headers`);
    assert.match(
      first!.headers['content-type'] ?? '',
      path === '/jwks' ? /^application\/jwk-set\+json; charset=utf-8$/ : /^application\/json; charset=utf-8$/,
    );
  }
  const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: Array<{ kid: string; d?: string }> };
  assert.ok(jwks.keys.length > 0 && jwks.keys.every((key) => key.kid && key.d === undefined), 'public keys only');

  // A relying party reads the document as before.
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const rp = await idp.rp(client);
  assert.equal(rp.serverMetadata().issuer, idp.issuer);
  assert.equal(rp.serverMetadata().token_endpoint, `${idp.issuer}/token`);
  const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'openid' }).catch((err: Error) => err);
  assert.ok(!(tokens instanceof Error) || /scope/.test(tokens.message), String(tokens));
});

/** GET with a Host header of the caller's choosing (fetch sends the URL's), or an absolute-form target. */
function getWithHost(url: string, host: string, target?: string): Promise<{ status: number; body: string }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    get({ hostname, port, path: target ?? pathname, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('discovery under another Host names its endpoints there, and leaves the issuer origin’s document alone', async (t) => {
  const idp = await startLatchkey(t);
  const atIssuer = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).text();
  for (let round = 0; round < 2; round++) {
    const res = await getWithHost(`${idp.issuer}/.well-known/openid-configuration`, 'idp.other.example');
    assert.equal(res.status, 200);
    const document = JSON.parse(res.body) as { issuer: string; token_endpoint: string };
    assert.equal(document.issuer, idp.issuer, 'the issuer is configured, never taken from the request');
    assert.equal(
      document.token_endpoint,
      'http://idp.other.example/token',
      'the engine resolves endpoints on the request',
    );
  }
  // More hosts than the memo keeps: every answer is still right.
  for (let i = 0; i < 20; i++) {
    const res = await getWithHost(`${idp.issuer}/.well-known/openid-configuration`, `h${i}.example`);
    assert.equal((JSON.parse(res.body) as { token_endpoint: string }).token_endpoint, `http://h${i}.example/token`);
  }
  // An absolute-form request target (RFC 9112 §3.2.2) is the base the engine resolves against.
  const absolute = await getWithHost(idp.issuer, 'h0.example', 'http://abs.example/.well-known/openid-configuration');
  assert.equal((JSON.parse(absolute.body) as { token_endpoint: string }).token_endpoint, 'http://abs.example/token');
  assert.equal(await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).text(), atIssuer);
});
