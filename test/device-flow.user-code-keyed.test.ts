import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { sha256 } from '../src/secret-box.ts';
import { formField, UserAgent } from './helpers/browser.ts';
import { startLatchkey } from './helpers/latchkey.ts';

/**
 * A user code has about 34 bits: from a plain SHA-256 of it in a dump, trying every code finds it
 * in seconds, well within the code's 10 minutes. Stored keyed (LATCHKEY_SECRET_KEY), a dump alone
 * gives nothing to try codes against; the device page still finds the code the person types.
 */
test("a device's user code is stored as a keyed digest, not its SHA-256, and is still found when typed", async (t) => {
  const idp = await startLatchkey(t);
  const tv = await idp.clients.create({
    name: 'Device App',
    type: 'public',
    grantTypes: ['device_code'],
    redirectUris: [],
  });
  const started = await oidc.initiateDeviceAuthorization(await idp.rp(tv, 'none'), { scope: 'openid' });

  const { rows } = await idp.server.database.pool.query<{ user_code: string }>(
    `select user_code from oidc_payloads where model = 'DeviceCode' and user_code is not null`,
  );
  assert.equal(rows.length, 1);
  const stored = rows[0]!.user_code;
  const plain = started.user_code.replace(/[^A-Za-z]/g, '');
  for (const spelling of [started.user_code, plain, started.user_code.toLowerCase(), plain.toLowerCase()]) {
    assert.notEqual(stored, sha256(spelling), `the stored user code is SHA-256(${spelling.length} characters)`);
  }

  const agent = new UserAgent(idp.issuer);
  const entry = await agent.navigate(`${idp.issuer}/device`);
  const confirm = await agent.submitForm(`${idp.issuer}/device`, {
    xsrf: formField(entry.body, 'xsrf')!,
    user_code: started.user_code.toLowerCase(),
  });
  assert.ok(confirm.body.includes(started.user_code), 'the typed code is found: its confirmation is shown');
  assert.match(confirm.body, /name="confirm"/);
});
