import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configWarnings, loadConfig } from '../src/config.ts';
import { spawnServer } from './helpers/spawned-server.ts';

test('TRUST_PROXY on all interfaces is a warning; bound to one address it is not', () => {
  const [warning, ...rest] = configWarnings(loadConfig({ TRUST_PROXY: 'true' }));
  assert.equal(warning?.setting, 'TRUST_PROXY');
  assert.match(warning?.message ?? '', /forge X-Forwarded-For/);
  assert.deepEqual(rest, []);
  assert.deepEqual(configWarnings(loadConfig({ TRUST_PROXY: 'true', HOST: '10.0.0.5' })), []);
  assert.deepEqual(configWarnings(loadConfig({ TRUST_PROXY: 'false' })), []);
});

test('a server started with TRUST_PROXY=true on all interfaces says so once in its log', async (t) => {
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '2', TRUST_PROXY: 'true', HOST: '0.0.0.0' } });
  const warnings = server
    .output()
    .split('\n')
    .filter((line) => line.includes('"event":"config.warning"'));
  assert.equal(warnings.length, 1, server.output());
  assert.match(warnings[0]!, /"setting":"TRUST_PROXY"/);
  assert.match(warnings[0]!, /"level":40/);
});
