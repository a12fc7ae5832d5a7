import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { MAX_WRONG_CODES } from '../src/interactions/device.ts';
import { MAX_PARAMETER_LENGTH } from '../src/security/request-limits.ts';
import { formField, UserAgent } from './helpers/browser.ts';
import { CALLBACK, freePort, PASSWORD, startLatchkey } from './helpers/latchkey.ts';

/**
 * Other spellings of a route's path that a router, a proxy or a client might take for the same
 * route: trailing slashes, case, a doubled slash, a matrix parameter, escapes. Only the literal
 * segments change (a `:name` segment is filled from `values`), so a variant still names the
 * same interaction or resource.
 */
function spellings(template: string, values: Record<string, string> = {}): { canonical: string; variants: string[] } {
  const fill = (segments: string[]) =>
    segments.map((segment) => (segment.startsWith(':') ? (values[segment.slice(1)] ?? 'x') : segment)).join('/');
  const literal = (segment: string) => segment !== '' && !segment.startsWith(':');
  const segments = template.split('/');
  const mapLiterals = (change: (segment: string, index: number) => string) =>
    fill(segments.map((segment, i) => (literal(segment) ? change(segment, i) : segment)));
  const first = segments.findIndex(literal);
  const canonical = fill(segments);
  return {
    canonical,
    variants: [
      `${canonical}/`,
      `${canonical}//`,
      `${canonical}%2F`,
      mapLiterals((segment) => segment.toUpperCase()),
      mapLiterals((segment, i) => (i === first ? segment[0]!.toUpperCase() + segment.slice(1) : segment)),
      `/${canonical}`,
      `${canonical};a`,
      mapLiterals((segment, i) =>
        i === first ? `%${segment.charCodeAt(0).toString(16)}${segment.slice(1)}` : segment,
      ),
    ],
  };
}

test('every spelling of /token is refused or counted by the token rate limit', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_TOKEN_PER_MINUTE: '2' });
  const client = await idp.clients.create({ grantTypes: ['client_credentials'] });
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;
  const tokenRequest = (path: string) =>
    fetch(`${idp.issuer}${path}`, {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
    });
  const { canonical, variants } = spellings('/token');
  for (let i = 0; i < 2; i += 1) assert.equal((await tokenRequest(canonical)).status, 200);
  assert.equal((await tokenRequest(canonical)).status, 429, 'the address is over its limit');

  for (const variant of variants) {
    const response = await tokenRequest(variant);
    assert.ok(
      [404, 429].includes(response.status),
      `POST ${variant}: ${response.status} (the limit or not found, never a token)`,
    );
  }
});

test('every spelling of /device is refused or held by the wrong-code limit; a blocked address cannot confirm or abort a flow', async (t) => {
  const idp = await startLatchkey(t);
  const tv = await idp.clients.create({
    name: 'Device App',
    type: 'public',
    grantTypes: ['device_code'],
    redirectUris: [],
  });
  const rp = await idp.rp(tv, 'none');
  const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });

  const agent = new UserAgent(idp.issuer);
  let page = await agent.navigate(`${idp.issuer}/device`);
  const xsrf = () => formField(page.body, 'xsrf')!;
  for (let attempt = 1; attempt <= MAX_WRONG_CODES; attempt += 1) {
    page = await agent.submitForm(`${idp.issuer}/device`, { xsrf: xsrf(), user_code: 'BBBB-BBBB' });
    assert.match(page.body, /That code is not valid/, `attempt ${attempt}`);
  }
  const lastForm = xsrf();
  assert.equal(
    (await agent.submitForm(`${idp.issuer}/device`, { xsrf: lastForm, user_code: 'BBBB-BBBB' })).response.status,
    429,
  );

  // The code of someone's device: entered, confirmed, or aborted (which would cancel their flow).
  const submissions: Array<Record<string, string>> = [
    { user_code: started.user_code },
    { user_code: started.user_code, confirm: 'yes' },
    { user_code: started.user_code, abort: 'yes' },
  ];
  const { variants } = spellings('/device');
  for (const variant of variants) {
    for (const fields of submissions) {
      const answer = await agent.submitForm(`${idp.issuer}${variant}`, { xsrf: lastForm, ...fields });
      assert.ok(
        [404, 429].includes(answer.response.status),
        `POST ${variant} ${Object.keys(fields).join('+')}: ${answer.response.status}`,
      );
      assert.doesNotMatch(answer.body, /Connect Device App/, `POST ${variant}: no confirmation page`);
    }
  }
  // Nobody cancelled the flow: the device still waits for its person.
  const poll = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: started.device_code,
      client_id: tv.clientId,
    }),
  });
  assert.equal(((await poll.json()) as { error?: string }).error, 'authorization_pending');
});

test('every spelling of /authorize and /logout is refused or gets the front-channel parameter limit', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create();
  const query = new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: CALLBACK,
    state: 'a'.repeat(MAX_PARAMETER_LENGTH + 1),
  });
  for (const template of ['/authorize', '/logout']) {
    const { canonical, variants } = spellings(template);
    for (const path of [canonical, ...variants]) {
      const response = await fetch(`${idp.issuer}${path}?${query}`, {
        redirect: 'manual',
        headers: { accept: 'text/html' },
      });
      const body = await response.text();
      assert.ok(
        response.status === 404 || (response.status === 400 && /too long/.test(body)),
        `GET ${path}: ${response.status} (the parameter limit or not found)`,
      );
      if (path === canonical) assert.equal(response.status, 400, `${path} itself is limited`);
    }
  }
});

/** The account page's forms (account/routes.ts). */
const ACCOUNT_FORMS = [
  '/account/profile',
  '/account/password',
  '/account/apps/remove',
  '/account/sessions/end',
  '/account/sessions/end-others',
  '/account/delete',
];

test('every spelling of a browser-facing route is refused over plain http on an https issuer', async (t) => {
  const port = await freePort();
  const _idp = await startLatchkey(t, { ISSUER: `https://127.0.0.1:${port}` }, { port });
  const routes: Array<[method: string, template: string]> = [
    ['GET', '/authorize'],
    ['GET', '/authorize/:uid'],
    ['GET', '/logout'],
    ['POST', '/logout/confirm'],
    ['GET', '/logout/success'],
    ['GET', '/device'],
    ['POST', '/device'],
    ['GET', '/device/:uid'],
    ['GET', '/device/auth'],
    ['GET', '/interaction/:uid'],
    ['POST', '/interaction/:uid/login'],
    ['POST', '/interaction/:uid/abort'],
    ['POST', '/interaction/:uid/consent'],
    ['GET', '/account'],
    ['GET', '/account/callback'],
    ...ACCOUNT_FORMS.map((path) => ['POST', path] as [string, string]),
  ];
  for (const [method, template] of routes) {
    const { canonical, variants } = spellings(template, { uid: 'abc' });
    for (const path of [canonical, ...variants]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        redirect: 'manual',
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        ...(method === 'POST' ? { body: 'csrf=x' } : {}),
      });
      const body = await response.text();
      assert.ok(
        response.status === 404 || (response.status === 400 && /only https/.test(body)),
        `${method} ${path}: ${response.status} (refused as plain http or not found)`,
      );
      assert.deepEqual(response.headers.getSetCookie(), [], `${method} ${path}: no cookie`);
      if (path === canonical) assert.equal(response.status, 400, `${method} ${path} itself is refused`);
    }
  }
});

test('every spelling of our form routes is refused or checked for CSRF and the login limit', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '1' });
  const user = await idp.users.create();
  const client = await idp.clients.create();
  const rp = await idp.rp(client);
  const agent = new UserAgent(idp.issuer);
  const login = await agent.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 's',
      nonce: 'n',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }),
  );
  const uid = /\/interaction\/([^/]+)$/.exec(login.url.pathname)![1]!;
  const csrf = formField(login.body, 'csrf')!;

  for (const form of ['login', 'abort', 'consent']) {
    const { canonical, variants } = spellings(`/interaction/:uid/${form}`, { uid });
    for (const path of [canonical, ...variants]) {
      const answer = await agent.submitForm(`${idp.issuer}${path}`, {
        csrf: 'forged',
        email: user.email,
        password: PASSWORD,
      });
      assert.ok(
        [403, 404].includes(answer.response.status),
        `POST ${path} without the CSRF token: ${answer.response.status}`,
      );
      if (path === canonical) assert.equal(answer.response.status, 403, `${path} itself checks the token`);
    }
  }

  for (const form of ACCOUNT_FORMS) {
    const { canonical, variants } = spellings(form, {});
    for (const path of [canonical, ...variants]) {
      const answer = await agent.submitForm(`${idp.issuer}${path}`, {
        csrf: 'forged',
        password: PASSWORD,
        confirm: 'yes',
      });
      assert.ok(
        [403, 404].includes(answer.response.status),
        `POST ${path} without the CSRF token: ${answer.response.status}`,
      );
      if (path === canonical) assert.equal(answer.response.status, 403, `${path} itself checks the token`);
    }
  }

  // One password a minute from this address: a wrong one spends it.
  const wrong = await agent.submitForm(`${idp.issuer}/interaction/${uid}/login`, {
    csrf,
    email: user.email,
    password: 'wrong password',
  });
  assert.equal(wrong.response.status, 401);
  const { canonical, variants } = spellings('/interaction/:uid/login', { uid });
  for (const path of [canonical, ...variants]) {
    const answer = await agent.submitForm(`${idp.issuer}${path}`, { csrf, email: user.email, password: PASSWORD });
    assert.ok(
      [404, 429].includes(answer.response.status),
      `POST ${path} with the right password: ${answer.response.status} (the limit or not found)`,
    );
  }
});
