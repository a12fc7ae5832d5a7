import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { formField } from './helpers/browser.ts';
import { CALLBACK, exchange, type FlowResult, PASSWORD, startLatchkey } from './helpers/latchkey.ts';

const API = 'https://api.multi-node.test';

/**
 * A browser behind a load balancer: one cookie jar, each request sent to the node the test picks.
 * Both nodes serve the same issuer (node A's URL), so a node's redirects name A; `on` re-targets
 * them. Cookies are kept by name only (the engine's cookie names are distinct).
 */
class BalancedBrowser {
  private readonly cookies = new Map<string, string>();

  async request(node: string, target: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(target, node);
    const headers = new Headers(init.headers);
    if (this.cookies.size)
      headers.set('cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(new URL(`${url.pathname}${url.search}`, node), {
      ...init,
      headers,
      redirect: 'manual',
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
      if (!value || /expires=thu, 01 jan 1970/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  post(node: string, target: string, fields: Record<string, string>) {
    return this.request(node, target, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

function location(response: Response): URL {
  assert.ok(response.status >= 300 && response.status < 400, `expected a redirect, got ${response.status}`);
  return new URL(response.headers.get('location')!, 'http://unused.invalid');
}

test('two nodes on one database share sessions, interactions, grants and keys', async (t) => {
  const a = await startLatchkey(t);
  const b = await startLatchkey(
    t,
    { LATCHKEY_SECRET_KEY: a.config.secretKey!, ISSUER: a.issuer },
    { database: a.database },
  );
  const nodeA = a.server.url;
  const nodeB = b.server.url;
  assert.notEqual(nodeA, nodeB);
  const user = await a.users.create();
  const client = await a.clients.create({ grantTypes: ['authorization_code', 'client_credentials'] });
  await a.apis.create({ identifier: API, scopes: ['read'] });
  const rp = await a.rp(client);
  const browser = new BalancedBrowser();

  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizationUrl = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });

  // Node A starts the sign-in and shows the login page.
  const interaction = location(await browser.request(nodeA, authorizationUrl));
  const loginPage = await browser.request(nodeA, interaction.pathname);
  assert.equal(loginPage.status, 200);
  const uid = interaction.pathname.split('/').at(-1)!;

  // Node B takes the password, resumes the authorization, shows consent and sends the code back.
  const resume = location(
    await browser.post(nodeB, `/interaction/${uid}/login`, {
      csrf: formField(await loginPage.text(), 'csrf')!,
      email: user.email,
      password: PASSWORD,
    }),
  );
  const consent = location(await browser.request(nodeB, resume));
  const consentPage = await browser.request(nodeB, consent.pathname);
  assert.equal(consentPage.status, 200);
  const consentUid = consent.pathname.split('/').at(-1)!;
  const resumed = location(
    await browser.post(nodeB, `/interaction/${consentUid}/consent`, {
      csrf: formField(await consentPage.text(), 'csrf')!,
      decision: 'allow',
    }),
  );
  const sentBack = location(await browser.request(nodeB, resumed));
  assert.equal(`${sentBack.origin}${sentBack.pathname}`, CALLBACK);

  // Node A redeems the code node B issued.
  const flow = { callback: sentBack, codeVerifier, state, nonce } as FlowResult;
  const tokens = await exchange(rp, flow);
  assert.equal(tokens.claims()?.sub, user.id);

  // The session made on B signs the user in on A without a page; consent given on B is remembered.
  const again = await browser.request(
    nodeA,
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    }),
  );
  const straightBack = location(again);
  assert.equal(`${straightBack.origin}${straightBack.pathname}`, CALLBACK);
  assert.ok(straightBack.searchParams.get('code'), 'a code, without login or consent');

  // Both nodes sign with the same keys: a token from B verifies against A's /jwks and vice versa.
  const jwksA = createRemoteJWKSet(new URL(`${nodeA}/jwks`));
  const jwksB = createRemoteJWKSet(new URL(`${nodeB}/jwks`));
  const fromB = await fetch(`${nodeB}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }),
  });
  assert.equal(fromB.status, 200);
  const { access_token: accessToken } = (await fromB.json()) as { access_token: string };
  await jwtVerify(accessToken, jwksA, { issuer: a.issuer, audience: API });
  await jwtVerify(tokens.id_token!, jwksB, { issuer: a.issuer, audience: client.clientId });
});
