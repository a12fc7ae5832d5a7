import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLatchkey } from './helpers/latchkey.ts';
import { spawnServer } from './helpers/spawned-server.ts';

/** GET on `agent`: the status, the Connection header, and whether the socket was one used before. */
function get(
  agent: http.Agent,
  url: string,
): Promise<{ status: number; connection: string | undefined; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      response.resume();
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          connection: response.headers.connection,
          reused: request.reusedSocket,
        }),
      );
    });
    request.once('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('no answer within 10 s')));
  });
}

/** Four kept-alive connections, idle and ready for reuse. */
async function warmAgent(url: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const warm = await Promise.all(Array.from({ length: 4 }, () => get(agent, `${url}/healthz`)));
  assert.deepEqual(
    warm.map((response) => response.status),
    [200, 200, 200, 200],
  );
  return agent;
}

test('requests sent on kept-alive connections right after close() are served with Connection: close, not reset', async (t) => {
  const idp = await startLatchkey(t);
  const agent = await warmAgent(idp.issuer);
  t.after(() => agent.destroy());

  const closed = idp.server.close();
  const during = await Promise.all(Array.from({ length: 4 }, () => get(agent, `${idp.issuer}/healthz`)));

  assert.deepEqual(
    during.map((response) => response.status),
    [200, 200, 200, 200],
  );
  assert.ok(
    during.every((response) => response.reused),
    'sent on the connections opened before close()',
  );
  assert.deepEqual(
    during.map((response) => response.connection),
    ['close', 'close', 'close', 'close'],
    'clients stop reusing them',
  );
  await closed;
});

test('after SIGTERM, requests on kept-alive connections are served with Connection: close, then the server exits 0', async (t) => {
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '1' } });
  const agent = await warmAgent(server.url);
  t.after(() => agent.destroy());

  server.child.kill('SIGTERM');
  // The signal is handled asynchronously: the requests go out while the server is draining.
  for (const deadline = Date.now() + 5000; !server.output().includes('"event":"server.stopping"'); await sleep(5)) {
    assert.ok(Date.now() < deadline, server.output());
  }
  const during = await Promise.all(Array.from({ length: 4 }, () => get(agent, `${server.url}/healthz`)));

  assert.deepEqual(
    during.map((response) => response.status),
    [200, 200, 200, 200],
  );
  assert.ok(
    during.every((response) => response.reused),
    'sent on the connections opened before SIGTERM',
  );
  assert.deepEqual(
    during.map((response) => response.connection),
    ['close', 'close', 'close', 'close'],
  );
  assert.equal(await server.exited, 0, server.output());
});
