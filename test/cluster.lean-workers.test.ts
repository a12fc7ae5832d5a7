import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnRecordedCluster } from './helpers/recorded-cluster.ts';

// A worker's idle memory (bench/README.md): it takes the Config the preparing child validated from
// the primary instead of loading zod (14 MiB), and loads the passkey and mail libraries on first use.
test('cluster workers serve without the config schema (zod), the WebAuthn library or nodemailer loaded', async (t) => {
  const { server, loaded } = await spawnRecordedCluster(t, { METRICS_PORT: 'off' });
  const discovery = await fetch(`${server.url}/.well-known/openid-configuration`);
  assert.equal(discovery.status, 200);
  assert.equal(((await discovery.json()) as { issuer: string }).issuer, server.url);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, server.output());
  const workers = await loaded('worker');
  assert.equal(workers.length, 2, 'both workers wrote what they loaded');
  for (const { modules } of workers) {
    assert.ok(
      modules.some((url) => url.includes('/src/server.ts')),
      'the recording saw the worker load the server',
    );
    for (const unwanted of [
      '/src/config.ts',
      '/node_modules/zod/',
      '/node_modules/@simplewebauthn/server/',
      '/node_modules/nodemailer/',
    ])
      assert.deepEqual(
        modules.filter((url) => url.includes(unwanted)),
        [],
        unwanted,
      );
  }
});
