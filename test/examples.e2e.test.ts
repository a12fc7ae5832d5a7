import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { type ApiOptions, createApi } from '../examples/api/api.ts';
import { createWebClient } from '../examples/web-client/web-client.ts';
import { formAction, formField } from './helpers/browser.ts';
import { authorize, type Latchkey, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { Browser, passLatchkeyPages } from './helpers/web-browser.ts';

/** A server on a free 127.0.0.1 port; its handler is attached once its URL is known. Closed when the test ends. */
async function listen(t: TestContext): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function startApi(t: TestContext, options: Omit<ApiOptions, 'audience'> & { audience?: string }) {
  const { server, url } = await listen(t);
  server.on('request', createApi({ audience: url, ...options }));
  return url;
}

/** The text content of the element with this id in a page of the example app, unescaped. */
function elementText(html: string, id: string): string {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html);
  assert.ok(match, `the page has #${id}`);
  return match[1]!
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

test('the example web app signs in through Latchkey, calls the example API, refreshes and signs out', async (t) => {
  const idp = await startLatchkey(t);
  const api = await listen(t);
  const web = await listen(t);
  await idp.apis.create({ identifier: api.url, scopes: ['read', 'write'] });
  const user = await idp.users.create({ name: 'Ada <Lovelace>' });
  const client = await idp.clients.create({
    name: 'KS Connect',
    type: 'confidential',
    redirectUris: [`${web.url}/callback`],
    postLogoutRedirectUris: [`${web.url}/`],
  });
  api.server.on('request', createApi({ issuer: idp.issuer, audience: api.url }));
  web.server.on(
    'request',
    createWebClient({
      issuer: idp.issuer,
      clientId: client.clientId,
      clientSecret: client.clientSecret!,
      redirectUri: `${web.url}/callback`,
      apiUrl: api.url,
      apiAudience: api.url,
    }),
  );
  const browser = new Browser();

  const home = await browser.navigate(`${web.url}/`);
  assert.match(home.body, /You are signed out/);
  assert.match(home.body, /href="\/login"/);

  const loginPage = await browser.navigate(`${web.url}/login`);
  assert.equal(loginPage.url.origin, idp.issuer, 'the app sent the browser to Latchkey');
  const {
    page: signedIn,
    sawLogin,
    sawConsent,
    consentPage,
  } = await passLatchkeyPages(browser, idp.issuer, loginPage, { email: user.email, password: PASSWORD });
  assert.ok(sawLogin && sawConsent, 'login and consent pages shown');
  assert.ok(consentPage?.includes(`read on ${api.url}`), 'the consent page names the API scope');
  assert.equal(signedIn.url.href, `${web.url}/`, 'back on the app after the callback');
  assert.match(signedIn.body, /You are signed in/);
  assert.match(signedIn.body, /Hello, Ada &lt;Lovelace&gt;/, 'claims are shown escaped');
  assert.ok(signedIn.body.includes(user.email));
  assert.ok(signedIn.body.includes(user.id));
  assert.equal(elementText(signedIn.body, 'scope'), 'read', 'the access token is for the API, with its read scope');
  assert.equal(elementText(signedIn.body, 'refresh'), 'yes', 'offline_access with prompt=consent gave a refresh token');

  const called = await browser.navigate(`${web.url}/call-api`);
  assert.equal(elementText(called.body, 'status'), '200');
  const fromApi = JSON.parse(elementText(called.body, 'api-response')) as {
    caller: { sub: string; client_id: string; scope: string[] };
    messages: unknown[];
  };
  assert.deepEqual(fromApi.caller, { sub: user.id, client_id: client.clientId, scope: ['read'] });
  assert.ok(fromApi.messages.length >= 1);

  const forged = await browser.request(`${web.url}/refresh`, {
    method: 'POST',
    headers: { origin: 'http://attacker.example' },
  });
  assert.equal(forged.status, 403, 'a form post from another origin is refused');

  const refreshed = await browser.submitForm(`${web.url}/refresh`, {});
  assert.equal(refreshed.url.href, `${web.url}/`);
  assert.match(refreshed.body, /Tokens refreshed/);
  assert.equal(elementText(refreshed.body, 'refresh'), 'yes');
  const calledAgain = await browser.navigate(`${web.url}/call-api`);
  assert.equal(elementText(calledAgain.body, 'status'), '200', 'the refreshed access token works at the API');

  // RP-initiated logout: the app forgets the tokens and sends the browser to Latchkey's /logout.
  const confirm = await browser.submitForm(`${web.url}/logout`, {});
  assert.equal(confirm.url.origin, idp.issuer);
  const action = formAction(confirm.body, '/logout');
  const xsrf = formField(confirm.body, 'xsrf');
  assert.ok(action && xsrf, 'Latchkey asks to confirm the sign-out');
  const loggedOut = await browser.submitForm(new URL(action.replace(/&amp;/g, '&'), idp.issuer), {
    xsrf,
    logout: 'yes',
  });
  assert.equal(loggedOut.url.href, `${web.url}/`, 'Latchkey sent the browser to the post-logout redirect URI');
  assert.match(loggedOut.body, /You are signed out/);

  // Signed out at Latchkey too: signing in again asks for the password.
  const again = await browser.navigate(`${web.url}/login`);
  assert.equal(again.url.origin, idp.issuer);
  assert.match(again.body, /\/login"/);
});

test('the example web app shows a declined consent as a failed sign-in', async (t) => {
  const idp = await startLatchkey(t);
  const api = await listen(t);
  const web = await listen(t);
  await idp.apis.create({ identifier: api.url, scopes: ['read'] });
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', redirectUris: [`${web.url}/callback`] });
  web.server.on(
    'request',
    createWebClient({
      issuer: idp.issuer,
      clientId: client.clientId,
      clientSecret: client.clientSecret!,
      redirectUri: `${web.url}/callback`,
      apiUrl: api.url,
      apiAudience: api.url,
    }),
  );
  const browser = new Browser();
  const loginPage = await browser.navigate(`${web.url}/login`);
  const { page } = await passLatchkeyPages(browser, idp.issuer, loginPage, {
    email: user.email,
    password: PASSWORD,
    consent: 'deny',
  });
  assert.equal(page.url.pathname, '/callback');
  assert.equal(page.response.status, 400);
  assert.match(page.body, /You declined the request/);
});

/** An access token for `resource`, through a real sign-in with the default test client. */
async function accessTokenFor(
  idp: Latchkey,
  resource: string | undefined,
  flowOptions: { email: string; scope: string; agent?: Parameters<typeof authorize>[2]['agent'] },
) {
  const client = await idp.clients.create();
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { ...flowOptions, ...(resource ? { resource } : {}) });
  const tokens = await oidc.authorizationCodeGrant(
    rp,
    flow.callback,
    { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce },
    resource ? { resource } : undefined,
  );
  return { tokens, agent: flow.agent };
}

async function callApi(url: string, token?: string, init: RequestInit = {}) {
  const response = await fetch(url, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
  });
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate') ?? '',
    body: (await response.json()) as Record<string, unknown>,
  };
}

test('the example API accepts only unexpired, untampered JWTs for its audience, with the scope each route needs', async (t) => {
  const idp = await startLatchkey(t);
  const apiUrl = await startApi(t, { issuer: idp.issuer });
  const otherApi = 'https://other-api.example.com';
  await idp.apis.create({ identifier: apiUrl, scopes: ['read', 'write'] });
  await idp.apis.create({ identifier: otherApi, scopes: ['read'] });
  const user = await idp.users.create();
  const messages = `${apiUrl}/messages`;

  const { tokens, agent } = await accessTokenFor(idp, apiUrl, { email: user.email, scope: 'openid read' });
  const token = tokens.access_token;
  const ok = await callApi(messages, token);
  assert.equal(ok.status, 200);
  assert.equal((ok.body.caller as { sub: string }).sub, user.id);

  const noToken = await callApi(messages);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.challenge, 'Bearer realm="KS Connect API"', 'no error code without credentials (RFC 6750 §3.1)');

  const write = await callApi(messages, token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'hi' }),
  });
  assert.equal(write.status, 403);
  assert.match(write.challenge, /^Bearer realm="KS Connect API", error="insufficient_scope", scope="write"$/);

  const rejected = async (label: string, bad: string, description: RegExp, apiUrlToCall = messages) => {
    const result = await callApi(apiUrlToCall, bad);
    assert.equal(result.status, 401, label);
    assert.match(result.challenge, /^Bearer realm="KS Connect API", error="invalid_token"/, label);
    assert.match(String(result.body.error_description), description, label);
  };

  const other = await accessTokenFor(idp, otherApi, { email: user.email, scope: 'openid read', agent });
  await rejected("another API's token", other.tokens.access_token, /not for this API/);

  const opaque = await accessTokenFor(idp, undefined, { email: user.email, scope: 'openid', agent });
  await rejected('an opaque token for /userinfo', opaque.tokens.access_token, /malformed or not a JWT/);
  await rejected('an ID token', tokens.id_token!, /not an access token/);

  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'read write' })).toString('base64url');
  await rejected('a token whose payload was changed', `${header}.${widened}.${signature}`, /signature is not valid/);

  const { kid, alg } = decodeProtectedHeader(token);
  const forger = await generateKeyPair(alg!);
  const forged = await new SignJWT(claims)
    .setProtectedHeader({ alg: alg!, kid: kid!, typ: 'at+jwt' })
    .sign(forger.privateKey);
  await rejected('a token signed with a key not in the JWKS', forged, /signature is not valid/);

  const later = await startApi(t, {
    issuer: idp.issuer,
    audience: apiUrl,
    now: () => new Date(Date.now() + 2 * 3600 * 1000),
  });
  await rejected('an expired token', token, /expired/, `${later}/messages`);

  const elsewhere = await startApi(t, {
    issuer: 'https://login.example.com',
    audience: apiUrl,
    jwksUri: `${idp.issuer}/jwks`,
  });
  await rejected('a token from another issuer', token, /another issuer/, `${elsewhere}/messages`);
});
