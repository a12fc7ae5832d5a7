import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnRecordedCluster } from './helpers/recorded-cluster.ts';

// The primary of a cluster stays small (bench/README.md): a preparing child validates the config
// and prepares the database, the workers serve /metrics. Measured on Node 24, zod costs 19 MiB, pg
// 11, node:http 17.
test('the cluster primary loads neither the config schema (zod), pg, prom-client nor node:http, /metrics scraped included', async (t) => {
  const { server, loaded } = await spawnRecordedCluster(t, { METRICS_PORT: '0' });
  const metricsPort = /"event":"cluster.started"[^\n]*"metrics_port":(\d+)/.exec(server.output())?.[1];
  assert.ok(metricsPort, server.output());
  const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(await scraped.text(), /# TYPE latchkey_logins_total counter/);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, server.output());
  const [primary] = await loaded('primary');
  assert.ok(primary, 'the primary wrote what it loaded');
  const { modules, builtins } = primary;
  assert.ok(
    modules.some((url) => url.includes('/src/cluster.ts')),
    'the recording saw the primary load its modules',
  );
  for (const unwanted of ['/src/config.ts', '/node_modules/zod/', '/node_modules/pg/', '/node_modules/prom-client/'])
    assert.deepEqual(
      modules.filter((url) => url.includes(unwanted)),
      [],
      unwanted,
    );
  assert.deepEqual(
    builtins.filter((name) => /^NativeModule _?http(s|2)?($|_)/.test(name)),
    [],
    'node:http',
  );
});
