import assert from 'node:assert/strict';
import { test } from 'node:test';
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
