import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { ConfigError, loadConfig } from '../src/config.ts';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

test('AUTHORIZATION_CODE_TTL may not exceed 60 seconds (RFC 9700 §4.2.1)', () => {
  assert.throws(
    () => loadConfig({ AUTHORIZATION_CODE_TTL: '61' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /AUTHORIZATION_CODE_TTL/);
      return true;
    },
  );
  assert.equal(loadConfig({}).ttl.authorizationCode, 60);
});

test('an expired code is invalid_grant', async (t) => {
  const idp = await startLatchkey(t, { AUTHORIZATION_CODE_TTL: '1' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create({ type: 'confidential' }), 'basic');

  const flow = await authorize(idp, rp, { email: user.email });
  await sleep(2500);
  await assert.rejects(exchange(rp, flow), (err: unknown) => {
    assert.ok(err instanceof oidc.ResponseBodyError, String(err));
    assert.equal(err.error, 'invalid_grant');
    return true;
  });
});
