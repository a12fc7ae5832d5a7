import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { formField } from './helpers/browser.ts';
import { authorize, CALLBACK, freePort, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { openLoginPage } from './helpers/security.ts';

/** A PKCE challenge, as every authorization request of an RP carries. */
async function pkce() {
  return {
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  };
}

function assertSecurityHeaders(res: Response, what: string, https: boolean) {
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/, `${what}: CSP default-src`);
  const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
  assert.ok(
    scriptSrc && !scriptSrc.includes("'unsafe-inline'") && !scriptSrc.includes("'unsafe-eval'"),
    `${what}: no inline scripts (${scriptSrc})`,
  );
  assert.match(csp, /frame-ancestors 'none'/, `${what}: frame-ancestors`);
  assert.doesNotMatch(csp, /form-action/, `${what}: no form-action (it would block the redirect after consent)`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', `${what}: referrer policy`);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', `${what}: X-Frame-Options`);
  const hsts = res.headers.get('strict-transport-security');
  if (https) assert.match(hsts ?? '', /max-age=\d{7,}/, `${what}: HSTS over https`);
  else assert.equal(hsts, null, `${what}: no HSTS over http`);
}

function assertCookieFlags(res: Response, what: string, https: boolean): number {
  const cookies = res.headers.getSetCookie();
  for (const cookie of cookies) {
    const attributes = cookie
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    const name = cookie.split('=')[0];
    assert.ok(attributes.includes('httponly'), `${what}: ${name} is HttpOnly`);
    assert.ok(attributes.includes('samesite=lax'), `${what}: ${name} is SameSite=Lax`);
    assert.equal(attributes.includes('secure'), https, `${what}: ${name} ${https ? 'is' : 'is not'} Secure`);
  }
  return cookies.length;
}

test('every kind of response carries the security headers, and cookies are HttpOnly and SameSite=Lax (http issuer)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create();
  const rp = await idp.rp(client);
  const check = (res: Response, what: string) => {
    assertSecurityHeaders(res, what, false);
    return assertCookieFlags(res, what, false);
  };

  // /authorize sets the interaction cookies and redirects to the login page.
  const login = await openLoginPage(idp, rp);
  const authorizeRes = await fetch(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      nonce: 'n',
      state: 's',
      ...(await pkce()),
    }),
    { redirect: 'manual' },
  );
  assert.ok(check(authorizeRes, 'authorize redirect') >= 1, 'the authorization sets cookies');
  await authorizeRes.arrayBuffer();
  const loginPage = await login.agent.request(new URL(`/interaction/${login.uid}`, idp.issuer));
  assert.equal(loginPage.status, 200);
  await loginPage.arrayBuffer();
  check(loginPage, 'login page');
  assert.equal(loginPage.headers.get('cache-control'), 'no-store');

  // The login POST sets the resume cookie; the resume sets the session cookie and shows consent.
  const posted = await login.agent.request(login.loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: login.csrf, email: user.email, password: PASSWORD }).toString(),
  });
  assert.equal(posted.status, 303);
  check(posted, 'login POST');
  await posted.arrayBuffer();
  const resumed = await login.agent.request(new URL(posted.headers.get('location')!, idp.issuer));
  assert.ok(check(resumed, 'resume') >= 1, 'the resume sets the session cookie');
  await resumed.arrayBuffer();
  const consent = await login.agent.navigate(new URL(resumed.headers.get('location')!, idp.issuer));
  assert.ok(
    formField(consent.body, 'csrf') && consent.body.includes('/consent"'),
    `consent page (${consent.response.status} ${consent.url})`,
  );
  check(consent.response, 'consent page');

  // Error pages: the engine's (unknown client) and ours (404, bad form).
  const engineError = await fetch(
    `${idp.issuer}/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CALLBACK)}`,
    { headers: { accept: 'text/html' } },
  );
  assert.equal(engineError.status, 400);
  check(engineError, 'engine error page');
  const notFound = await fetch(`${idp.issuer}/no/such/page`, { headers: { accept: 'text/html' } });
  assert.equal(notFound.status, 404);
  check(notFound, 'not found page');
  const badForm = await fetch(`${idp.issuer}/interaction/whatever/login`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'x',
  });
  assert.equal(badForm.status, 415);
  check(badForm, 'our error page');

  // JSON: discovery, JWKS, token (success and error), userinfo error.
  for (const path of ['/.well-known/openid-configuration', '/jwks']) {
    const res = await fetch(`${idp.issuer}${path}`);
    assert.equal(res.status, 200);
    check(res, path);
  }
  const flow = await authorize(idp, rp, { email: user.email });
  const code = flow.callback.searchParams.get('code')!;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;
  const token = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: flow.codeVerifier,
    }).toString(),
  });
  assert.equal(token.status, 200);
  check(token, 'token response');
  assert.equal(token.headers.get('cache-control'), 'no-store', 'tokens are not cached');
  const replay = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: flow.codeVerifier,
    }).toString(),
  });
  assert.equal(replay.status, 400);
  check(replay, 'token error');
  const userinfo = await fetch(`${idp.issuer}/userinfo`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(userinfo.status, 401);
  check(userinfo, 'userinfo error');
});

test('behind a TLS proxy (https issuer, TRUST_PROXY, X-Forwarded-Proto: https) cookies are Secure and HSTS is sent', async (t) => {
  const idp = await startLatchkey(t);
  // A second node on the same database, configured as if behind a TLS-terminating proxy.
  const port = await freePort();
  const issuer = `https://127.0.0.1:${port}`;
  const server = await startServer(
    loadConfig({
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: issuer,
      DATABASE_URL: idp.config.databaseUrl,
      LATCHKEY_SECRET_KEY: idp.config.secretKey,
      LOG_LEVEL: 'silent',
      TRUST_PROXY: 'true',
      DATABASE_POOL_SIZE: '3',
      METRICS_PORT: 'off',
    }),
    createLogger({ level: 'silent' }),
  );
  t.after(() => server.close(1000));

  const user = await idp.users.create();
  const client = await idp.clients.create();
  const jar = new Map<string, string>();
  const send = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-proto', 'https');
    headers.set('accept', 'text/html');
    if (jar.size) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const res = await fetch(new URL(path, server.url), { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
  const check = (res: Response, what: string) => {
    assertSecurityHeaders(res, what, true);
    return assertCookieFlags(res, what, true);
  };

  const start = await send(
    `/authorize?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: CALLBACK, state: 's', nonce: 'n', ...(await pkce()) })}`,
  );
  assert.equal(start.status, 303);
  assert.ok(check(start, 'authorize') >= 1);
  const interactionPath = new URL(start.headers.get('location')!, issuer).pathname;
  const page = await send(interactionPath);
  assert.equal(page.status, 200);
  check(page, 'login page');
  const csrf = formField(await page.text(), 'csrf')!;
  const posted = await send(`${interactionPath}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, email: user.email, password: PASSWORD }).toString(),
  });
  assert.equal(posted.status, 303);
  check(posted, 'login POST');
  const resume = new URL(posted.headers.get('location')!, issuer);
  assert.equal(resume.protocol, 'https:', 'the engine builds https URLs from the forwarded protocol');
  const resumed = await send(resume.pathname);
  assert.ok(check(resumed, 'resume') >= 1, 'the session cookie is set, Secure');
  check(await send('/.well-known/openid-configuration'), 'discovery');
  check(await send('/no/such/page'), 'not found');

  // A request that bypassed the proxy (plain http, no X-Forwarded-Proto) cannot get Secure cookies:
  // it gets a clear 4xx page, not a server error.
  const direct = await fetch(
    new URL(
      `/authorize?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: CALLBACK, state: 's', nonce: 'n', ...(await pkce()) })}`,
      server.url,
    ),
    { redirect: 'manual', headers: { accept: 'text/html' } },
  );
  assert.equal(direct.status, 400);
  assert.match(await direct.text(), /only https/);
  assertSecurityHeaders(direct, 'plain http on an https issuer', true);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'probes still answer over plain http');
  assert.equal(
    (await fetch(`${server.url}/jwks`)).status,
    200,
    'so do the JWKS and discovery, for services inside the network',
  );
});
