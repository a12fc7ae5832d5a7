import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './helpers/browser.ts';
import { type Latchkey, signInFrom, startLatchkey } from './helpers/latchkey.ts';

/** Every stored row of the provider's models, as text: what a dump or a replica holds. */
async function payloadRows(idp: Latchkey): Promise<string> {
  const { rows } = await idp.server.database.pool.query<{ row: string }>(
    'select to_jsonb(p)::text as row from oidc_payloads p',
  );
  return rows.map((each) => each.row).join('\n');
}

/** The spellings a user code can be typed or stored in: as shown, without the dash, lower case. */
function spellings(userCode: string): string[] {
  const plain = userCode.replace(/[^A-Za-z]/g, '');
  return [userCode, plain, userCode.toLowerCase(), plain.toLowerCase()];
}

function assertAbsent(rows: string, userCode: string, when: string) {
  for (const spelling of spellings(userCode)) {
    assert.equal(rows.includes(spelling), false, `the user code (${spelling.length} characters) is stored ${when}`);
  }
}

test("a device's user code is not stored readable, at any step of the device flow", async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const tv = await idp.clients.create({
    name: 'Device App',
    type: 'public',
    grantTypes: ['device_code', 'refresh_token'],
    redirectUris: [],
  });
  const rp = await idp.rp(tv, 'none');

  const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid offline_access' });
  assert.match(await payloadRows(idp), /DeviceCode/, 'the rows are not vacuous');
  assertAbsent(await payloadRows(idp), started.user_code, 'while the device waits');

  const agent = new UserAgent(idp.issuer);
  const entry = await agent.navigate(`${idp.issuer}/device`);
  const confirm = await agent.submitForm(`${idp.issuer}/device`, {
    xsrf: formField(entry.body, 'xsrf')!,
    user_code: started.user_code.toLowerCase(),
  });
  assert.ok(
    confirm.body.includes(started.user_code),
    'the confirmation still shows the code to compare with the device',
  );
  assertAbsent(await payloadRows(idp), started.user_code, 'once the code was entered');

  const phone = await signInFrom(
    idp,
    agent,
    agent.submitForm(`${idp.issuer}/device`, {
      xsrf: formField(confirm.body, 'xsrf')!,
      user_code: started.user_code,
      confirm: 'yes',
    }),
    { email: user.email },
  );
  assert.match(phone.body, /Your device is connected/);
  assertAbsent(await payloadRows(idp), started.user_code, 'once approved');

  const tokens = await oidc.pollDeviceAuthorizationGrant(rp, { ...started, interval: 0 });
  assert.equal(tokens.claims()?.sub, user.id);
  assertAbsent(await payloadRows(idp), started.user_code, 'once the device has its tokens');

  // The code is still known by its digest: entered again, it is "already used", not "not found".
  const again = await agent.navigate(`${idp.issuer}/device`);
  const reused = await agent.submitForm(`${idp.issuer}/device`, {
    xsrf: formField(again.body, 'xsrf')!,
    user_code: started.user_code,
  });
  assert.doesNotMatch(reused.body, /Your device is connected/);
  assert.doesNotMatch(reused.body, /name="confirm"/, 'no second approval is offered');
});
