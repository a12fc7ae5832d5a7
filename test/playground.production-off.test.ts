import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { startLatchkey } from './helpers/latchkey.ts';

const SECRET = 'x'.repeat(32);
const PRODUCTION = {
  NODE_ENV: 'production',
  ISSUER: 'https://id.example.com',
  TRUST_PROXY: 'true',
  LATCHKEY_SECRET_KEY: SECRET,
};
const PATHS = ['/playground', '/playground/callback/web'];

/** As the TLS-terminating proxy in front would forward it. */
const viaProxy = (issuer: string, path: string, init: RequestInit = {}) =>
  fetch(`${issuer}${path}`, {
    ...init,
    redirect: 'manual',
    headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.example.com', accept: 'text/html' },
  });

test('the playground is on by default in development, off in production, and PLAYGROUND_ENABLED decides either way', () => {
  assert.equal(loadConfig({}).playgroundEnabled, true);
  assert.equal(loadConfig({ PLAYGROUND_ENABLED: 'false' }).playgroundEnabled, false);
  assert.equal(loadConfig(PRODUCTION).playgroundEnabled, false);
  assert.equal(loadConfig({ ...PRODUCTION, PLAYGROUND_ENABLED: 'true' }).playgroundEnabled, true);
});

test('in production /playground is a 404 like any unknown path, unless enabled', async (t) => {
  const off = await startLatchkey(t, PRODUCTION);
  for (const path of PATHS) {
    const res = await viaProxy(off.server.url, path);
    assert.equal(res.status, 404, path);
  }
  const start = await viaProxy(off.server.url, '/playground/start', {
    method: 'POST',
    body: 'app_type=web',
  });
  assert.equal(start.status, 404);
  const unknown = await viaProxy(off.server.url, '/no-such-page');
  assert.equal(unknown.status, 404);

  const on = await startLatchkey(t, { ...PRODUCTION, PLAYGROUND_ENABLED: 'true' });
  const page = await viaProxy(on.server.url, '/playground');
  assert.equal(page.status, 200);
  assert.match(await page.text(), /app_type_web/);
});
