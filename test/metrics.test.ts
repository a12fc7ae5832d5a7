import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, exchange, freePort, startLatchkey } from './helpers/latchkey.ts';
import { spawnServer } from './helpers/spawned-server.ts';

const API = 'https://api.metrics.test';

/** The value of one sample line (`name{labels} value`) of a Prometheus text exposition, if present. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

test('/metrics counts requests by route, tokens by grant type, sign-ins by outcome and lockouts', async (t) => {
  const idp = await startLatchkey(t, { LOCKOUT_THRESHOLD: '2' });
  const user = await idp.users.create();
  const victim = await idp.users.create();
  const client = await idp.clients.create({ grantTypes: ['authorization_code', 'client_credentials'] });
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const rp = await idp.rp(client);

  await exchange(rp, await authorize(idp, rp, { email: user.email }));
  await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read' });
  for (let i = 0; i < 2; i += 1) {
    await assert.rejects(authorize(idp, rp, { email: victim.email, password: 'not the password' }), /flow stopped/);
  }

  const response = await fetch(`http://127.0.0.1:${idp.server.metricsPort}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await response.text();

  assert.equal(sample(text, 'latchkey_tokens_issued_total', { grant_type: 'authorization_code' }), 1);
  assert.equal(sample(text, 'latchkey_tokens_issued_total', { grant_type: 'client_credentials' }), 1);
  assert.equal(sample(text, 'latchkey_logins_total', { outcome: 'success' }), 1);
  assert.equal(sample(text, 'latchkey_logins_total', { outcome: 'bad_credentials' }), 1);
  assert.equal(sample(text, 'latchkey_logins_total', { outcome: 'locked' }), 1);
  assert.equal(sample(text, 'latchkey_lockouts_total'), 1);

  // Engine requests carry the engine's route name, ours the route template.
  const count = (route: string, status: string, method = 'GET') =>
    sample(text, 'latchkey_http_request_duration_seconds_count', { method, route, status });
  assert.equal(count('token', '200', 'POST'), 2);
  assert.equal(count('discovery', '200'), 1);
  assert.ok((count('authorization', '303') ?? 0) >= 3);
  assert.equal(count('/interaction/:uid/login', '401', 'POST'), 2);
  assert.ok((count('/interaction/:uid', '200') ?? 0) >= 4);
  // Raw paths never become labels: they carry interaction uids.
  const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]!));
  for (const route of routes) assert.match(route, /^(unmatched|[a-z_.]+|(\/(:?[a-z_.-]+))+)$/, `route label ${route}`);

  assert.notEqual(sample(text, 'latchkey_db_pool_clients', { state: 'total' }), undefined);
  assert.notEqual(sample(text, 'latchkey_db_pool_clients', { state: 'idle' }), undefined);
  assert.equal(sample(text, 'latchkey_db_pool_clients', { state: 'waiting' }), 0);
  assert.notEqual(sample(text, 'nodejs_eventloop_lag_seconds'), undefined);
  assert.notEqual(sample(text, 'latchkey_janitor_rows_removed_total'), undefined);
});

test('by default /metrics is not on the public port (404) but on 127.0.0.1:9464 [npm start, cluster of 2]', async (t) => {
  // METRICS_PORT and METRICS_HOST unset (an empty value counts as unset): the defaults.
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '2', METRICS_PORT: '', METRICS_HOST: '' } });

  const onPublic = await fetch(`${server.url}/metrics`, { headers: { accept: 'text/plain' } });
  assert.equal(onPublic.status, 404, 'the sign-in counters would tell which emails have accounts');
  await onPublic.arrayBuffer();
  const response = await fetch('http://127.0.0.1:9464/metrics');
  assert.equal(response.status, 200, server.output());
  assert.match(await response.text(), /# TYPE latchkey_logins_total counter/);
  assert.match(server.output(), /"event":"cluster.started"[^\n]*"metrics_port":9464/);
});

test('METRICS_PORT moves the metrics listener; the same port as PORT puts /metrics on the public port; off serves none', async (t) => {
  const [own, publicPort, off] = await Promise.all([
    startLatchkey(t, { METRICS_PORT: '0' }),
    freePort().then((port) => startLatchkey(t, { METRICS_PORT: String(port) }, { port })),
    startLatchkey(t, { METRICS_PORT: 'off' }),
  ]);

  const port = own.server.metricsPort;
  assert.ok(port && port !== own.server.port);
  assert.equal((await fetch(`${own.issuer}/healthz`)).status, 200);
  assert.equal((await fetch(`${own.issuer}/metrics`)).status, 404);
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.equal(
    sample(text, 'latchkey_http_request_duration_seconds_count', { method: 'GET', route: '/healthz', status: '200' }),
    1,
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);

  assert.equal(publicPort.server.metricsPort, undefined, 'no listener of its own');
  const onPublic = await fetch(`${publicPort.issuer}/metrics`);
  assert.equal(onPublic.status, 200, 'asked for: METRICS_PORT = PORT');
  assert.match(await onPublic.text(), /# TYPE latchkey_logins_total counter/);

  assert.equal(off.server.metricsPort, undefined);
  assert.equal((await fetch(`${off.issuer}/metrics`)).status, 404);
});

test('in a cluster, /metrics sums every worker, on the public port or on METRICS_PORT', async (t) => {
  const [metricsPort, samePort] = await Promise.all([freePort(), freePort()]);
  const [publicPort, separatePort] = await Promise.all([
    spawnServer(t, { env: { WEB_CONCURRENCY: '2', METRICS_PORT: String(samePort) }, port: samePort }),
    spawnServer(t, { env: { WEB_CONCURRENCY: '2', METRICS_PORT: String(metricsPort) } }),
  ]);
  const healthz = (count: number, url: string) =>
    Promise.all(
      Array.from({ length: count }, () =>
        // A connection per request, so the primary hands them to both workers.
        fetch(`${url}/healthz`, { headers: { connection: 'close' } }).then((response) => response.status),
      ),
    );
  const counted = (text: string) =>
    sample(text, 'latchkey_http_request_duration_seconds_count', { method: 'GET', route: '/healthz', status: '200' });

  assert.deepEqual(await healthz(8, publicPort.url), Array(8).fill(200));
  for (let i = 0; i < 3; i += 1) {
    // Whichever worker answers the scrape, it reports the whole cluster.
    const response = await fetch(`${publicPort.url}/metrics`, { headers: { connection: 'close' } });
    assert.equal(response.status, 200, publicPort.output());
    assert.equal(counted(await response.text()), 8);
  }

  assert.deepEqual(await healthz(5, separatePort.url), Array(5).fill(200));
  assert.equal((await fetch(`${separatePort.url}/metrics`)).status, 404);
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(response.status, 200);
  assert.equal(counted(await response.text()), 5);
});
