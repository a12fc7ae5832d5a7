import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isEngineRoute, routeOf } from '../src/http/routes.ts';
import { type PlaygroundDeps, playgroundRoutes } from '../src/playground/routes.ts';
import { startLatchkey } from './helpers/latchkey.ts';

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'; drop table playground_runs; --",
  'a\u0000b',
  'a\r\nSet-Cookie: injected=1',
  'x'.repeat(5000),
  '',
  '../../etc/passwd',
];

test('every route the playground mounts is named by the table, as ours', () => {
  const router = playgroundRoutes({} as PlaygroundDeps);
  assert.equal(router.stack.length, 4);
  for (const layer of router.stack) {
    const path = String(layer.path).replace(':type', 'web');
    for (const method of layer.methods) {
      const route = routeOf(method, path);
      assert.equal(route?.canonical, true, `${method} ${layer.path}`);
      assert.equal(isEngineRoute(route?.name), false);
    }
  }
});

/** A browser's cookie jar for /playground and the CSRF token of its page. */
async function visit(issuer: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${issuer}/playground`);
  assert.equal(res.status, 200);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  assert.match(cookie, /latchkey\.playground=/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())?.[1];
  assert.ok(csrf);
  return { cookie, csrf };
}

test('hostile inputs on the playground forms and callback: 4xx, never a 5xx or an unescaped payload', async (t) => {
  const idp = await startLatchkey(t);
  const { cookie, csrf } = await visit(idp.issuer);
  const post = (path: string, body: string, withCookie = true) =>
    fetch(`${idp.issuer}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        ...(withCookie ? { cookie } : {}),
      },
      body,
    });
  const outcomes: Array<[string, number, string]> = [];
  for (const value of HOSTILE) {
    for (const [path, fields] of [
      ['/playground/start', { app_type: value }],
      ['/playground/start', { app_type: 'web', resource: value }],
      ['/playground/start', { app_type: 'spa', acr: value }],
      ['/playground/action', { action: value }],
      ['/playground/action', { action: 'token' }],
      ['/playground/action', { action: 'replay', csrf: value }],
    ] as const) {
      const res = await post(path, new URLSearchParams({ csrf, ...fields }).toString());
      outcomes.push([`${path} ${JSON.stringify(fields).slice(0, 60)}`, res.status, await res.text()]);
    }
    const callback = await fetch(
      `${idp.issuer}/playground/callback/web?${new URLSearchParams({ code: value, state: value, iss: value })}`,
      { redirect: 'manual', headers: { cookie, accept: 'text/html' } },
    );
    outcomes.push([`callback ${value.slice(0, 20)}`, callback.status, await callback.text()]);
    const type = await fetch(`${idp.issuer}/playground/callback/${encodeURIComponent(value || 'x')}`, {
      redirect: 'manual',
      headers: { cookie },
    });
    outcomes.push([`callback type ${value.slice(0, 20)}`, type.status, await type.text()]);
  }
  // Without the browser's cookie, or with a forged token: forbidden.
  const noCookie = await post('/playground/start', new URLSearchParams({ csrf, app_type: 'web' }).toString(), false);
  assert.equal(noCookie.status, 403);
  const forged = await post('/playground/start', 'csrf=forged&app_type=web');
  assert.equal(forged.status, 403);
  const duplicate = await post('/playground/start', `csrf=${csrf}&app_type=web&app_type=spa`);
  assert.equal(duplicate.status, 400);
  const json = await post('/playground/action', '{"action":"token"}');
  assert.equal(json.status, 403, 'no CSRF token in it');

  for (const [label, status, body] of outcomes) {
    assert.ok(status < 500, `${label}: ${status}`);
    assert.ok(![...HOSTILE.slice(0, 2)].some((payload) => body.includes(payload)), `${label}: escaped`);
  }
  const health = await fetch(`${idp.issuer}/healthz`);
  assert.equal(health.status, 200);
});

test('playground clients are created once per type, named as such, and made again after clients delete', async (t) => {
  const idp = await startLatchkey(t);
  const { cookie, csrf } = await visit(idp.issuer);
  const start = (appType: string) =>
    fetch(`${idp.issuer}/playground/start`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf, app_type: appType, offline_access: 'yes' }),
    });
  const { createServices } = await import('../src/services.ts');
  const services = createServices({
    config: idp.config,
    db: idp.server.database.pool,
    secretKey: idp.config.secretKey!,
  });
  const playgroundClients = async () =>
    (await services.clients.store.list()).filter((client) => client.name.startsWith('Playground:'));

  assert.equal((await start('web')).status, 303);
  assert.equal((await start('web')).status, 303);
  assert.equal((await start('spa')).status, 303);
  const made = await playgroundClients();
  assert.deepEqual(made.map((c) => [c.type, c.token_endpoint_auth_method]).sort(), [
    ['confidential', 'client_secret_basic'],
    ['public', 'none'],
  ]);
  const web = made.find((c) => c.type === 'confidential')!;
  assert.deepEqual(web.redirect_uris, [`${idp.issuer}/playground/callback/web`]);
  assert.deepEqual(web.post_logout_redirect_uris, [`${idp.issuer}/playground`]);
  assert.ok(web.secret_sealed?.startsWith('v1.'), 'the secret is sealed at rest');

  // Removed by an operator: the next run makes a new one.
  assert.equal(await services.clients.store.delete(web.client_id), true);
  assert.equal((await start('web')).status, 303);
  const again = (await playgroundClients()).filter((c) => c.type === 'confidential');
  assert.equal(again.length, 1);
  assert.notEqual(again[0]!.client_id, web.client_id);

  // The run's state is sealed at rest and swept once expired.
  const { rows } = await idp.server.database.pool.query<{ state: string }>('select state from playground_runs');
  assert.equal(rows.length, 1);
  assert.doesNotMatch(rows[0]!.state, /code_challenge|verifier/);
  await idp.server.database.pool.query("update playground_runs set expires_at = now() - interval '1 second'");
  assert.equal((await services.sweepRetained()).playground_runs, 1);
});
