import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';
import { CALLBACK, createArrangements, freePort } from './helpers/latchkey.ts';
import { throwawayCluster } from './helpers/throwaway-postgres.ts';

interface Line {
  level: number;
  event?: string;
  status?: number;
  msg?: string;
  duration_ms?: number;
  requests_failed?: number;
  [key: string]: unknown;
}

/** A logger at info whose JSON lines the test reads. */
function capturedLogger() {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { log: pino({ level: 'info', base: undefined }, sink), lines };
}

test('a database outage logs one warning, 503 request lines at warn and no stacks, then one recovery line', async (t) => {
  const cluster = await throwawayCluster();
  t.after(() => cluster.destroy());
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const secretKey = randomBytes(32).toString('base64url');
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: cluster.url,
    LATCHKEY_SECRET_KEY: secretKey,
    DATABASE_POOL_SIZE: '4',
    DATABASE_CONNECT_TIMEOUT_MS: '2000',
    METRICS_PORT: 'off',
    // The key watcher queries every half second: background work meets the outage too.
    KEY_RELOAD_INTERVAL_MS: '500',
  });
  const { log, lines } = capturedLogger();
  const server = await startServer(config, log);
  t.after(() => server.close(1000));
  const idp = createArrangements(server.database.pool, config);
  const client = await idp.clients.create({ grantTypes: ['authorization_code', 'client_credentials'] });
  const basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;
  const requests = () =>
    [
      // The rate limiter, the engine (JSON and page), the readiness probe.
      fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }),
      fetch(`${issuer}/userinfo`, { headers: { authorization: 'Bearer an-access-token-of-43-characters-aaaaaaaaaa' } }),
      fetch(
        `${issuer}/authorize?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: CALLBACK })}`,
        { headers: { accept: 'text/html' }, redirect: 'manual' },
      ),
      fetch(`${issuer}/readyz`),
    ].map((sent) =>
      sent.then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      }),
    );

  assert.ok(
    (await Promise.all(requests())).every((status) => status < 500),
    'all answer while the database is up',
  );
  const before = lines.length;
  await cluster.stop();

  const statuses: number[] = [];
  for (let round = 0; round < 4; round += 1) {
    statuses.push(...(await Promise.all(Array.from({ length: 5 }, requests).flat())));
    await sleep(300);
  }
  assert.deepEqual([...new Set(statuses)], [503], 'every request fails fast with 503');

  await cluster.start();
  const recovered = () => lines.slice(before).filter((line) => line.event === 'db.recovered');
  const restored = () => lines.slice(before).some((line) => line.event === 'cache.listen_restored');
  // The tracker probes every second; the change listener reconnects with backoff (up to 8 s here).
  for (const deadline = Date.now() + 30_000; recovered().length === 0 || !restored(); await sleep(100)) {
    assert.ok(
      Date.now() < deadline,
      `recovery logged within 30 s:\n${lines
        .slice(before)
        .map((line) => JSON.stringify(line))
        .join('\n')}`,
    );
  }

  const outage = lines.slice(before);
  const dump = outage.map((line) => JSON.stringify(line)).join('\n');
  assert.deepEqual(
    outage.filter((line) => line.level >= 50),
    [],
    `nothing at error level:\n${dump}`,
  );
  assert.ok(!dump.includes('"stack"'), `no stack for a known outage:\n${dump}`);
  const warnings = outage.filter((line) => line.level === 40 && line.event !== 'http.request');
  assert.deepEqual(
    warnings.map((line) => line.event),
    ['db.unavailable'],
    `one warning:\n${dump}`,
  );
  const requestLines = outage.filter((line) => line.event === 'http.request' && line.status === 503);
  assert.equal(requestLines.length, statuses.length);
  assert.ok(
    requestLines.every((line) => line.level === 40),
    'request lines for 503 at warn',
  );

  assert.equal(recovered().length, 1, dump);
  const [recovery] = recovered();
  assert.equal(recovery!.level, 30);
  assert.ok(recovery!.duration_ms! > 0, 'says how long the database was gone');
  assert.equal(recovery!.requests_failed, statuses.length, 'and how many requests got 503');
  assert.equal((await fetch(`${issuer}/readyz`)).status, 200);
});
