import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { formField, UserAgent } from './helpers/browser.ts';
import { startLatchkey } from './helpers/latchkey.ts';
import { startPasskeyLatchkey } from './helpers/passkeys.ts';
import { openLoginPage } from './helpers/security.ts';

/**
 * The passkey JSON endpoints (sign-in page and account page) under hostile and malformed input:
 * always a 4xx with a JSON error body, never a 500 or an HTML page; nothing is signed in or stored.
 */

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const XSS = '<script>alert(1)</script>';

/** Bodies that are not an answer we can use, whatever the endpoint. */
function garbageResponses(challenge: string, origin: string): unknown[] {
  const clientData = (data: unknown) => b64(JSON.stringify(data));
  const id = b64(randomBytes(16));
  const good = {
    id,
    rawId: id,
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: clientData({ type: 'webauthn.get', challenge, origin }),
      authenticatorData: b64(randomBytes(37)),
      signature: b64(randomBytes(64)),
      attestationObject: b64(randomBytes(64)),
    },
  };
  return [
    undefined,
    null,
    'x',
    42,
    [],
    [good],
    {},
    { ...good, type: 'password' },
    { ...good, rawId: b64(randomBytes(16)) },
    { ...good, id: XSS, rawId: XSS },
    { ...good, id: 'a'.repeat(5000), rawId: 'a'.repeat(5000) },
    { ...good, response: null },
    { ...good, response: 'x' },
    { ...good, response: { ...good.response, clientDataJSON: 'not base64url!' } },
    { ...good, response: { ...good.response, clientDataJSON: b64('not json') } },
    { ...good, response: { ...good.response, clientDataJSON: clientData(null) } },
    { ...good, response: { ...good.response, clientDataJSON: clientData({ challenge: { $ne: null } }) } },
    { ...good, response: { ...good.response, clientDataJSON: clientData({ challenge: 'a\u0000b' }) } },
    { ...good, response: { ...good.response, clientDataJSON: clientData({ challenge: 'x'.repeat(1000) }) } },
    { ...good, response: { ...good.response, clientDataJSON: clientData({ challenge: "' or 1=1 --" }) } },
    { ...good, response: { ...good.response, signature: 42 } },
    { ...good, response: { ...good.response, authenticatorData: '' } },
    { ...good, response: { ...good.response, userHandle: XSS } },
    { ...good, clientExtensionResults: 'x' },
    JSON.parse(`{"__proto__": {"polluted": true}, "id": "${id}"}`),
    good,
  ];
}

async function postJson(agent: UserAgent, path: string, body: string, type = 'application/json') {
  const response = await agent.request(path, {
    method: 'POST',
    headers: { 'content-type': type, accept: 'application/json' },
    body,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', text };
}

function assertJsonRefusal(result: { status: number; type: string; text: string }, label: string) {
  assert.ok(result.status >= 400 && result.status < 500, `${label}: a 4xx, got ${result.status} ${result.text}`);
  assert.match(result.type, /application\/json/, `${label}: a JSON answer`);
  const body = JSON.parse(result.text) as { error?: unknown; error_description?: unknown };
  assert.equal(typeof body.error, 'string', `${label}: an error code`);
  assert.doesNotMatch(result.text, /<script>/, `${label}: nothing echoed`);
  assert.doesNotMatch(result.text, /at .*\.ts:\d+/, `${label}: no stack trace`);
}

test('hostile input to the passkey endpoints of the sign-in page and the account page gets a 4xx JSON answer, never a 500', async (t) => {
  const idp = await startPasskeyLatchkey(t);
  const client = await idp.clients.create();
  const rp = await idp.rp(client);
  const user = await idp.users.create();
  const origin = new URL(idp.issuer).origin;

  // --- the sign-in page ------------------------------------------------------------------------
  const login = await openLoginPage(idp, rp);
  assert.match(login.body, /autocomplete="username webauthn"/, 'the email field offers passkeys in the autofill');
  assert.match(login.body, /id="passkey-sign-in" hidden/, 'the passkey button waits for the script');
  assert.match(login.body, /<script src="\/assets\/passkeys.js" defer><\/script>/);
  const optionsPath = `/interaction/${login.uid}/passkey/options`;
  const loginPath = `/interaction/${login.uid}/passkey/login`;

  const options = await postJson(login.agent, optionsPath, JSON.stringify({ csrf: login.csrf }));
  assert.equal(options.status, 200, options.text);
  const requestOptions = JSON.parse(options.text) as {
    challenge: string;
    rpId: string;
    userVerification: string;
    allowCredentials?: unknown[];
  };
  assert.equal(requestOptions.rpId, 'localhost', "the RP ID is the issuer's host");
  assert.equal(requestOptions.userVerification, 'required');
  assert.deepEqual(requestOptions.allowCredentials ?? [], [], 'passwordless: any discoverable passkey may answer');
  assert.equal(Buffer.from(requestOptions.challenge, 'base64url').length, 32);

  for (const [path, label] of [
    [optionsPath, 'options'],
    [loginPath, 'login'],
  ] as const) {
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `csrf=${login.csrf}`],
      ['text/plain', JSON.stringify({ csrf: login.csrf })],
      ['application/json', ''],
      ['application/json', '{'],
      ['application/json', 'null'],
      ['application/json', '[]'],
      ['application/json', '"x"'],
      ['application/json', JSON.stringify({ csrf: login.csrf, pad: 'x'.repeat(70_000) })],
    ] as const) {
      assertJsonRefusal(await postJson(login.agent, path, body, type), `${label} ${type} ${body.slice(0, 20)}`);
    }
    for (const csrf of [undefined, '', 'x', `${login.csrf}x`, 42, { $ne: null }, [login.csrf], XSS]) {
      const result = await postJson(login.agent, path, JSON.stringify({ csrf, response: {} }));
      assertJsonRefusal(result, `${label} csrf ${JSON.stringify(csrf)}`);
      assert.equal(result.status, 403, `${label}: without its CSRF token, refused`);
    }
    // Without the interaction's cookie (another browser, a cross-site request): refused.
    const stranger = new UserAgent(idp.issuer);
    assertJsonRefusal(
      await postJson(stranger, path, JSON.stringify({ csrf: login.csrf })),
      `${label} without the interaction cookie`,
    );
  }
  for (const uid of ['x', encodeURIComponent(XSS), 'a'.repeat(300), '%00']) {
    const result = await postJson(login.agent, `/interaction/${uid}/passkey/login`, JSON.stringify({ csrf: 'x' }));
    assert.ok(result.status >= 400 && result.status < 500, `interaction ${uid.slice(0, 10)}: ${result.status}`);
  }

  for (const response of garbageResponses(requestOptions.challenge, origin)) {
    const result = await postJson(login.agent, loginPath, JSON.stringify({ csrf: login.csrf, response }));
    assertJsonRefusal(result, `login response ${JSON.stringify(response)?.slice(0, 60)}`);
  }
  const { rows: sessions } = await idp.server.database.pool.query(
    `select 1 from oidc_payloads where model = 'Session' and payload->>'accountId' is not null`,
  );
  assert.equal(sessions.length, 0, 'nobody is signed in');

  // --- the account page ------------------------------------------------------------------------
  const agent = new UserAgent(idp.issuer);
  let step = await agent.navigate('/account');
  step = await agent.submitForm(new URL(`${step.url.pathname}/login`, idp.issuer), {
    csrf: formField(step.body, 'csrf')!,
    email: user.email,
    password: 'correct horse battery staple',
  });
  assert.equal(step.url.pathname, '/account', 'signed in to the account page');
  assert.match(step.body, /id="passkeys"/);
  const csrf = formField(step.body, 'csrf')!;

  for (const path of ['/account/passkeys/options', '/account/passkeys/add']) {
    for (const body of ['', '{', '[]', JSON.stringify({ csrf: 'x', password: 'correct horse battery staple' })]) {
      assertJsonRefusal(await postJson(agent, path, body), `${path} ${body.slice(0, 20)}`);
    }
    assertJsonRefusal(
      await postJson(new UserAgent(idp.issuer), path, JSON.stringify({ csrf })),
      `${path} not signed in`,
    );
  }
  for (const password of [undefined, '', 42, 'x'.repeat(2000), 'a\u0000b', { $ne: null }]) {
    const result = await postJson(agent, '/account/passkeys/options', JSON.stringify({ csrf, password }));
    assertJsonRefusal(result, `registration options, password ${JSON.stringify(password)?.slice(0, 20)}`);
    assert.equal(result.status, 400);
  }
  const wrong = await postJson(agent, '/account/passkeys/options', JSON.stringify({ csrf, password: 'not it' }));
  assert.equal(wrong.status, 401, 'a wrong password gets no registration challenge');

  const registration = await postJson(
    agent,
    '/account/passkeys/options',
    JSON.stringify({ csrf, password: 'correct horse battery staple' }),
  );
  assert.equal(registration.status, 200, registration.text);
  const creation = JSON.parse(registration.text) as {
    challenge: string;
    rp: { id: string; name: string };
    user: { id: string; name: string };
    authenticatorSelection: { residentKey: string; userVerification: string };
    excludeCredentials: unknown[];
  };
  assert.deepEqual(creation.rp, { id: 'localhost', name: idp.config.brand.name });
  assert.equal(creation.user.name, user.email);
  assert.equal(creation.authenticatorSelection.residentKey, 'required');
  assert.equal(creation.authenticatorSelection.userVerification, 'required');
  assert.deepEqual(creation.excludeCredentials, []);

  for (const name of [undefined, '', '   ', 42, 'x'.repeat(101), 'a\u0000b', XSS]) {
    for (const response of garbageResponses(creation.challenge, origin).slice(0, name === XSS ? undefined : 3)) {
      const result = await postJson(agent, '/account/passkeys/add', JSON.stringify({ csrf, name, response }));
      assertJsonRefusal(result, `add ${JSON.stringify(name)?.slice(0, 10)} ${JSON.stringify(response)?.slice(0, 40)}`);
    }
  }
  for (const [passkey, password] of [
    ['', 'correct horse battery staple'],
    ['x', 'correct horse battery staple'],
    [XSS, 'correct horse battery staple'],
    ['00000000-0000-0000-0000-000000000000', 'correct horse battery staple'],
    ['00000000-0000-0000-0000-000000000000', ''],
  ] as const) {
    const result = await agent.request('/account/passkeys/remove', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, passkey, password }).toString(),
    });
    assert.ok(result.status >= 400 && result.status < 500, `remove ${passkey.slice(0, 10)}: ${result.status}`);
    assert.doesNotMatch(await result.text(), /<script>alert/);
  }
  const { rows: stored } = await idp.server.database.pool.query('select 1 from account_factors');
  assert.equal(stored.length, 0, 'no passkey was stored');
});

test('under an issuer that is an IP address, where browsers refuse passkeys, the pages offer none', async (t) => {
  const idp = await startLatchkey(t);
  const rp = await idp.rp(await idp.clients.create());
  const login = await openLoginPage(idp, rp);
  assert.doesNotMatch(login.body, /passkey|webauthn|<script/);
  const result = await postJson(
    login.agent,
    `/interaction/${login.uid}/passkey/options`,
    JSON.stringify({ csrf: login.csrf }),
  );
  assert.equal(result.status, 404);
});
