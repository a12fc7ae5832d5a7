import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { MAX_WRONG_CODES } from '../src/interactions/device.ts';
import { formField, UserAgent } from './helpers/browser.ts';
import { type Latchkey, signInFrom, startLatchkey } from './helpers/latchkey.ts';
import { oauthErrorBody } from './helpers/oauth-errors.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** One poll of the token endpoint, as a device does between its waits. */
async function poll(idp: Latchkey, clientId: string, deviceCode: string) {
  const response = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The person on their phone: opens /device, types the code, confirms, signs in and consents. */
async function approveOnPhone(idp: Latchkey, userCode: string, email: string, consent: 'allow' | 'deny' = 'allow') {
  const agent = new UserAgent(idp.issuer);
  const entry = await agent.navigate(`${idp.issuer}/device`);
  assert.equal(entry.response.status, 200);
  assert.match(entry.body, /<label for="user_code">/);
  const confirm = await agent.submitForm(`${idp.issuer}/device`, {
    xsrf: formField(entry.body, 'xsrf')!,
    user_code: userCode.toLowerCase(),
  });
  assert.equal(confirm.response.status, 200);
  assert.match(confirm.body, /Device App/, 'the confirmation names the app');
  assert.ok(confirm.body.includes(userCode), 'and shows the code to compare with the device');
  const xsrf = formField(confirm.body, 'xsrf')!;
  return signInFrom(
    idp,
    agent,
    agent.submitForm(`${idp.issuer}/device`, { xsrf, user_code: userCode, confirm: 'yes' }),
    { email, consent },
  );
}

test('device authorization grant (RFC 8628)', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const tv = await idp.clients.create({
    name: 'Device App',
    type: 'public',
    grantTypes: ['device_code', 'refresh_token'],
    redirectUris: [],
  });
  const rp = await idp.rp(tv, 'none');

  await t.test('the device polls while the person approves on a phone, then gets tokens', async () => {
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid profile offline_access' });
    assert.equal(started.verification_uri, `${idp.issuer}/device`);
    assert.match(started.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.ok(started.expires_in > 0);

    const pending = await poll(idp, tv.clientId, started.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');

    const phone = await approveOnPhone(idp, started.user_code, user.email);
    assert.ok(phone.sawLogin && phone.sawConsent);
    assert.equal(phone.location, undefined);
    assert.equal(phone.status, 200);
    assert.match(phone.body, /Your device is connected/);

    // The person has approved, so the device need not wait its interval before this poll.
    const tokens = await oidc.pollDeviceAuthorizationGrant(rp, { ...started, interval: 0 });
    assert.equal(tokens.claims()?.sub, user.id);
    assert.ok(tokens.refresh_token);
    assert.equal((await oidc.fetchUserInfo(rp, tokens.access_token, user.id)).name, tokens.claims()?.name);

    // Used: polling again is refused.
    const reused = await poll(idp, tv.clientId, started.device_code);
    assert.equal(reused.body.error, 'invalid_grant');
  });

  await t.test('verification_uri_complete (a QR code on the device) goes straight to the confirmation', async () => {
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const agent = new UserAgent(idp.issuer);
    // The engine's auto-submitting page carries the code; a browser without JavaScript shows a button.
    const carrier = await agent.navigate(started.verification_uri_complete!);
    assert.equal(formField(carrier.body, 'user_code'), started.user_code);
    const confirm = await agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(carrier.body, 'xsrf')!,
      user_code: started.user_code,
    });
    assert.match(confirm.body, /Connect Device App\?/);
  });

  await t.test('a denied request ends with access_denied for the device', async () => {
    // Someone who has not approved this app before (consent, once given, is remembered).
    const other = await idp.users.create();
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const phone = await approveOnPhone(idp, started.user_code, other.email, 'deny');
    assert.match(phone.body, /cancelled/);
    await assert.rejects(
      oidc.pollDeviceAuthorizationGrant(rp, { ...started, interval: 0 }),
      oauthErrorBody('access_denied'),
    );
  });

  await t.test('an expired device code is refused', async () => {
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    // Ten minutes pass: the row expires (as the clock would make it) before the person approves.
    await idp.server.database.pool.query(
      `update oidc_payloads set expires_at = now() - interval '1 second' where model = 'DeviceCode'`,
    );

    const agent = new UserAgent(idp.issuer);
    const entry = await agent.navigate(`${idp.issuer}/device`);
    const retry = await agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(entry.body, 'xsrf')!,
      user_code: started.user_code,
    });
    assert.match(retry.body, /That code is not valid/);

    // RFC 8628 §3.5: expired_token while the expired row is kept (the janitor sweeps it later).
    const expired = await poll(idp, tv.clientId, started.device_code);
    assert.equal(expired.status, 400);
    assert.equal(expired.body.error, 'expired_token');
  });

  await t.test('a client without the grant cannot start the flow', async () => {
    const web = await idp.clients.create({ type: 'confidential' });
    await assert.rejects(
      oidc.initiateDeviceAuthorization(await idp.rp(web), { scope: 'openid' }),
      oauthErrorBody('unauthorized_client'),
    );
  });

  await t.test('discovery advertises the device authorization endpoint and grant', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(metadata.device_authorization_endpoint, `${idp.issuer}/device/auth`);
    assert.ok((metadata.grant_types_supported as string[]).includes(DEVICE_GRANT));
  });
});

test('wrong user codes are limited per address (RFC 8628 §5.1)', async (t) => {
  const idp = await startLatchkey(t);
  const agent = new UserAgent(idp.issuer);
  let page = await agent.navigate(`${idp.issuer}/device`);
  for (let attempt = 1; attempt <= MAX_WRONG_CODES; attempt += 1) {
    page = await agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(page.body, 'xsrf')!,
      user_code: 'BBBB-BBBB',
    });
    assert.match(page.body, /That code is not valid/, `attempt ${attempt}`);
  }
  const blocked = await agent.submitForm(`${idp.issuer}/device`, {
    xsrf: formField(page.body, 'xsrf')!,
    user_code: 'BBBB-BBBB',
  });
  assert.equal(blocked.response.status, 429);
  assert.ok(Number(blocked.response.headers.get('retry-after')) > 0);
  assert.match(blocked.body, /Too many wrong codes/);
});
