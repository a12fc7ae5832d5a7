import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnServer } from './helpers/spawned-server.ts';

// The primary of a cluster stays small (bench/README.md): a preparing child validates the config
// and prepares the database, the workers serve /metrics. Measured on Node 24, zod costs 19 MiB, pg
// 11, node:http 17.
test('the cluster primary loads neither the config schema (zod), pg, prom-client nor node:http, /metrics scraped included', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-primary-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'imports.json');
  const server = await spawnServer(t, {
    env: { WEB_CONCURRENCY: '2', METRICS_PORT: '0', RECORD_PRIMARY_IMPORTS: file },
    command: [process.execPath, '--import', 'tsx', '--import', './test/helpers/primary-imports.ts', 'src/main.ts'],
  });
  const metricsPort = /"event":"cluster.started"[^\n]*"metrics_port":(\d+)/.exec(server.output())?.[1];
  assert.ok(metricsPort, server.output());
  const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(await scraped.text(), /# TYPE latchkey_logins_total counter/);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, server.output());
  const loaded = JSON.parse(await readFile(file, 'utf8')) as { esm: string[]; cjs: string[]; builtins: string[] };
  const modules = [...loaded.esm, ...loaded.cjs];
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
    loaded.builtins.filter((name) => /^NativeModule _?http(s|2)?($|_)/.test(name)),
    [],
    'node:http',
  );
});
