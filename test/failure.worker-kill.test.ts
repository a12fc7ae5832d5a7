import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { kernelBalancing } from '../src/cluster.ts';
import { spawnServer } from './helpers/spawned-server.ts';

const run = promisify(execFile);

/** Kernel balancing is what makes this hold; without it the primary hands connections out itself. */
const skip = kernelBalancing(3000)
  ? false
  : `Node ${process.versions.node} on ${process.platform} has no listen({ reusePort }) (Node 22.12+/23.1+ on Linux): ` +
    "cluster workers share the primary's socket (round-robin), where a connection handed to a dying worker can hang";

test('a worker killed with -9 under load: every request is answered or refused within 5 s, and a new worker takes over', {
  skip,
}, async (t) => {
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '2' } });
  const workers = (await run('ps', ['-o', 'pid=', '--ppid', String(server.child.pid)])).stdout
    .trim()
    .split(/\s+/)
    .map(Number);
  assert.equal(workers.length, 2, `two workers: ${workers.join(', ')}`);

  // Sixteen clients, each a new connection per request, so connections are queued for both workers.
  const results: Array<{ ms: number; ok: boolean; sentAfterKill: boolean }> = [];
  let killedAt: number | undefined;
  let stop = false;
  const client = async () => {
    while (!stop) {
      const started = Date.now();
      const ok = await fetch(`${server.url}/healthz`, {
        headers: { connection: 'close' },
        signal: AbortSignal.timeout(15_000),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          return response.status === 200;
        },
        () => false,
      );
      results.push({ ms: Date.now() - started, ok, sentAfterKill: killedAt !== undefined && started >= killedAt });
    }
  };
  const clients = Array.from({ length: 16 }, client);
  await sleep(1000);
  killedAt = Date.now();
  process.kill(workers[0]!, 'SIGKILL');
  await sleep(3000);
  stop = true;
  await Promise.all(clients);

  const slowest = Math.max(...results.map((result) => result.ms));
  const failed = results.filter((result) => !result.ok).length;
  assert.ok(slowest < 5000, `the slowest request took ${slowest} ms (${results.length} requests, ${failed} refused)`);
  assert.ok(
    results.filter((result) => result.sentAfterKill && result.ok).length > 50,
    'the surviving worker kept serving',
  );
  for (
    const deadline = Date.now() + 30_000;
    !server.output().includes('"event":"cluster.worker_exited"');
    await sleep(100)
  ) {
    assert.ok(Date.now() < deadline, `the primary noticed the exit:\n${server.output()}`);
  }
  const again = await Promise.all(
    Array.from({ length: 8 }, () =>
      fetch(`${server.url}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) }).then(
        (response) => response.status,
      ),
    ),
  );
  assert.deepEqual(again, Array(8).fill(200));
});
