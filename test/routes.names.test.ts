import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emailChangeRoutes } from '../src/account/email-change.ts';
import { type AccountPageDeps, accountRoutes } from '../src/account/routes.ts';
import { isEngineRoute, routeOf } from '../src/http/routes.ts';
import { type InteractionDeps, interactionRoutes } from '../src/interactions/routes.ts';
import { startLatchkey } from './helpers/latchkey.ts';

test('a route is named for its path as written and its methods; other spellings are variants', () => {
  assert.deepEqual(routeOf('POST', '/token'), { name: 'token', canonical: true });
  assert.deepEqual(
    routeOf('OPTIONS', '/token'),
    { name: 'token', canonical: true },
    'the CORS preflight of the same route',
  );
  assert.deepEqual(routeOf('HEAD', '/authorize'), { name: 'authorization', canonical: true });
  assert.deepEqual(
    routeOf('GET', '/authorize/Ab_9-x'),
    { name: 'resume', canonical: true },
    'a parameter keeps its case',
  );
  assert.deepEqual(routeOf('POST', '/device/auth'), { name: 'device_authorization', canonical: true });
  assert.deepEqual(
    routeOf('GET', '/device/auth'),
    { name: 'device_resume', canonical: true },
    'as the engine matches it: POST only is exact',
  );
  assert.deepEqual(routeOf('POST', '/interaction/Ab_9-x/login'), { name: 'login', canonical: true });

  for (const variant of ['/token/', '/token//', '/TOKEN', '/Token', '//token', '/%74oken', '/token%2F', '/token%2f']) {
    assert.deepEqual(routeOf('POST', variant), { name: 'token', canonical: false }, variant);
  }
  assert.deepEqual(
    routeOf('POST', '/device/'),
    { name: 'code_verification', canonical: false },
    'not a resume path with an empty uid',
  );
  assert.deepEqual(routeOf('POST', '/INTERACTION/abc/LOGIN'), { name: 'login', canonical: false });
  assert.deepEqual(routeOf('GET', '/interaction/abc/'), { name: 'interaction', canonical: false });

  // Its own path with a method it does not have, and paths that are no route: nothing to name.
  assert.equal(routeOf('GET', '/token'), undefined);
  for (const other of ['/', '/healthz', '/assets/latchkey.css', '/token;a', '/tokens', '/.well-known/webfinger']) {
    assert.equal(routeOf('GET', other), undefined, other);
  }
});

test("every endpoint the engine advertises is named by the table, with the engine's route name", async (t) => {
  const idp = await startLatchkey(t, { REGISTRATION_ENABLED: 'true' });
  const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    string
  >;
  const advertised: Array<[field: string, method: string, name: string]> = [
    ['authorization_endpoint', 'GET', 'authorization'],
    ['token_endpoint', 'POST', 'token'],
    ['userinfo_endpoint', 'GET', 'userinfo'],
    ['jwks_uri', 'GET', 'jwks'],
    ['end_session_endpoint', 'GET', 'end_session'],
    ['revocation_endpoint', 'POST', 'revocation'],
    ['introspection_endpoint', 'POST', 'introspection'],
    ['device_authorization_endpoint', 'POST', 'device_authorization'],
    ['pushed_authorization_request_endpoint', 'POST', 'pushed_authorization_request'],
    ['registration_endpoint', 'POST', 'registration'],
  ];
  for (const [field, method, name] of advertised) {
    assert.ok(metadata[field], `discovery has ${field}`);
    const route = routeOf(method, new URL(metadata[field]).pathname);
    assert.deepEqual(route, { name, canonical: true }, field);
    assert.ok(isEngineRoute(route.name), `${field} is the engine's`);
  }
  assert.deepEqual(routeOf('GET', '/.well-known/openid-configuration'), { name: 'discovery', canonical: true });
});

test('every route our interaction routers mount is named by the table, as ours', () => {
  const router = interactionRoutes({} as InteractionDeps);
  assert.ok(router.stack.length >= 4);
  for (const layer of router.stack) {
    const path = String(layer.path).replace(/:uid/g, 'abc');
    for (const method of layer.methods) {
      const route = routeOf(method, path);
      assert.equal(route?.canonical, true, `${method} ${layer.path}`);
      assert.equal(isEngineRoute(route?.name), false, `${method} ${layer.path} is ours`);
    }
  }
});

test('every route the account page mounts is named by the table, as ours', () => {
  const deps = {} as AccountPageDeps;
  const layers = [...accountRoutes(deps).stack, ...emailChangeRoutes(deps).stack];
  assert.ok(layers.some((layer) => layer.path === '/account/email/confirm'));
  for (const layer of layers) {
    for (const method of layer.methods) {
      const route = routeOf(method, String(layer.path));
      assert.equal(route?.canonical, true, `${method} ${layer.path}`);
      assert.equal(isEngineRoute(route?.name), false, `${method} ${layer.path} is ours`);
    }
  }
});
