import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

// METRICS_PORT defaults to 9464: an operator who moves only PORT there has not asked for public metrics.
test('PORT=9464 alone keeps /metrics off the public port: the start stops with one line naming METRICS_PORT', async () => {
  assert.throws(
    () => loadConfig({ PORT: '9464' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /^config: METRICS_PORT: .*same as PORT/.test(err.message) &&
      !err.message.includes('\n'),
  );

  const run = await runNode(
    ['--import', 'tsx', 'src/main.ts'],
    { PORT: '9464', DATABASE_URL: 'postgres://127.0.0.1:1/none' },
    { timeoutMs: 30_000 },
  );
  assert.equal(run.code, 1);
  assert.deepEqual(stderrLines(run).filter((line) => line.includes('METRICS_PORT')).length, 1, run.stderr);
  assert.match(run.stderr, /^config: METRICS_PORT: /m);
});

test('METRICS_PORT set to the same number as PORT still asks for /metrics on the public port', () => {
  assert.equal(loadConfig({ PORT: '9464', METRICS_PORT: '9464' }).metrics, 'public');
  assert.deepEqual(loadConfig({ PORT: '9465' }).metrics, { port: 9464, host: '127.0.0.1' });
});
