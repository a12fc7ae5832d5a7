import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
import { startLatchkey } from './helpers/latchkey.ts';

/**
 * GET /device/<uid> is where the engine resumes a device flow after sign-in and consent. Reached
 * without the flow's cookies (a bookmark, a stale tab, a scanner), it is a sign-in that expired:
 * our page with 400, never a 500.
 */
test('the device flow resume path without its session is an expired sign-in, not a 500', async (t) => {
  const idp = await startLatchkey(t);

  for (const path of ['/device/x', '/device/auth', '/device/0123456789abcdef']) {
    await t.test(`GET ${path} without cookies`, async () => {
      const response = await fetch(`${idp.issuer}${path}`, { headers: { accept: 'text/html' } });
      assert.equal(response.status, 400);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await response.text(), /This sign-in link has expired/);
    });
  }

  await t.test('GET /device/x without an Accept header, and asking for JSON', async () => {
    for (const accept of [undefined, 'application/json']) {
      const response = await fetch(`${idp.issuer}/device/x`, { headers: accept ? { accept } : {} });
      assert.equal(response.status, 400, `accept ${accept}`);
      await response.arrayBuffer();
    }
  });

  await t.test('with forged cookies (a resume cookie without its signature, an unknown session)', async () => {
    const response = await fetch(`${idp.issuer}/device/x`, {
      headers: { accept: 'text/html', cookie: '_interaction_resume=x; _session=unknown; _session.legacy=unknown' },
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /This sign-in link has expired/);
  });

  await t.test('with the session of a device flow started on this browser, but another uid', async () => {
    const tv = await idp.clients.create({
      name: 'Device App',
      type: 'public',
      grantTypes: ['device_code'],
      redirectUris: [],
    });
    const rp = await idp.rp(tv, 'none');
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const agent = new UserAgent(idp.issuer);
    const entry = await agent.navigate(`${idp.issuer}/device`);
    assert.ok(formField(entry.body, 'xsrf'));
    const confirm = await agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(entry.body, 'xsrf')!,
      user_code: started.user_code,
    });
    assert.equal(confirm.response.status, 200);
    const resumed = await agent.request(`${idp.issuer}/device/x`, { headers: { accept: 'text/html' } });
    assert.ok(resumed.status >= 400 && resumed.status < 500, `status ${resumed.status}`);
    await resumed.arrayBuffer();
  });

  await t.test('with the resume cookie of an interaction that expired, and no session cookie', async () => {
    const tv = await idp.clients.create({
      name: 'Device App',
      type: 'public',
      grantTypes: ['device_code'],
      redirectUris: [],
    });
    const rp = await idp.rp(tv, 'none');
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const agent = new UserAgent(idp.issuer);
    const entry = await agent.navigate(`${idp.issuer}/device`);
    const confirm = await agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(entry.body, 'xsrf')!,
      user_code: started.user_code,
    });
    // "Yes, connect": the engine starts sign-in and sets the resume cookie for /device/<uid>.
    const approved = await agent.request(`${idp.issuer}/device`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        xsrf: formField(confirm.body, 'xsrf')!,
        user_code: started.user_code,
        confirm: 'yes',
      }),
    });
    const uid = approved.headers.get('location')?.split('/').pop();
    const resumeCookies = approved.headers
      .getSetCookie()
      .filter((c) => c.startsWith('_interaction_resume'))
      .map((c) => c.split(';')[0]);
    assert.ok(uid && resumeCookies.length === 2, 'the resume cookie and its signature');
    await idp.server.database.pool.query(`delete from oidc_payloads where model = 'Interaction'`);

    const response = await fetch(`${idp.issuer}/device/${uid}`, {
      headers: { accept: 'text/html', cookie: resumeCookies.join('; ') },
      redirect: 'manual',
    });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    await response.arrayBuffer();
  });
});
