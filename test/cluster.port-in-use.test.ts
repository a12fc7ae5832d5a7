import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createTestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/latchkey.ts';
import { runNode, stderrLines } from './helpers/processes.ts';
import { spawnServer } from './helpers/spawned-server.ts';

// Workers bind with SO_REUSEPORT (Node 22.12+ on Linux): a second cluster of the same user could
// share the port, and the kernel would split the traffic between the two.
test('a second cluster on the same port exits 1 with one line: cannot listen on PORT N, address in use', async (t) => {
  const first = await spawnServer(t, { env: { WEB_CONCURRENCY: '2' } });

  const second = await runNode(
    ['--import', 'tsx', 'src/main.ts'],
    {
      PORT: String(first.port),
      HOST: '127.0.0.1',
      ISSUER: first.url,
      DATABASE_URL: first.database.url,
      LATCHKEY_SECRET_KEY: first.secretKey,
      METRICS_PORT: 'off',
      WEB_CONCURRENCY: '2',
      LOG_LEVEL: 'silent',
    },
    { timeoutMs: 60_000 },
  );

  assert.equal(second.code, 1, `exit code 1:\n${second.stderr}`);
  assert.deepEqual(stderrLines(second), [
    `latchkey: cannot listen on PORT ${first.port} (HOST 127.0.0.1): address in use`,
  ]);
  assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first one still serves');
});

// Every worker serves the metrics listener (node:cluster shares it): each would fail alike, and
// the primary says it once.
test('a cluster whose METRICS_PORT is taken exits 1 with one line naming METRICS_PORT', async (t) => {
  const database = await createTestDatabase();
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const metricsPort = (taken.address() as AddressInfo).port;

  const run = await runNode(
    ['--import', 'tsx', 'src/main.ts'],
    {
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      METRICS_PORT: String(metricsPort),
      WEB_CONCURRENCY: '2',
      LOG_LEVEL: 'silent',
    },
    { timeoutMs: 60_000 },
  );

  assert.equal(run.code, 1, `exit code 1:\n${run.stderr}`);
  const lines = stderrLines(run);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(
    lines[0]!,
    new RegExp(`^latchkey: cannot listen on METRICS_PORT ${metricsPort} \\(METRICS_HOST 127\\.0\\.0\\.1\\): `),
  );
});
