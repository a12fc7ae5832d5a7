import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SpawnedServer, spawnServer } from './helpers/spawned-server.ts';

async function registerClient(server: SpawnedServer) {
  const client = await server.clients.create({ name: 'Backend', redirectUris: [], grantTypes: ['client_credentials'] });
  return { clientId: client.clientId, clientSecret: client.clientSecret! };
}

/**
 * A token request whose body arrives in two parts: the server is mid-request until `finish()`.
 * `started` resolves when the server has begun handling it (it answered `Expect: 100-continue`);
 * `response` resolves with the status and body, or rejects if the connection is cut.
 */
function slowTokenRequest(url: string, client: { clientId: string; clientSecret: string }) {
  const body = Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope: 'openid' }).toString());
  const request = http.request(`${url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      expect: '100-continue',
    },
  });
  const started = new Promise<void>((resolve) => request.once('continue', resolve));
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.once('error', reject);
    });
  });
  response.catch(() => undefined);
  request.flushHeaders();
  void started.then(() => request.write(body.subarray(0, 10)));
  return { started, response, finish: () => request.end(body.subarray(10)) };
}

/** Waits (bounded) until the server refuses new connections. */
async function waitUntilRefusing(url: string) {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const refused = await fetch(`${url}/healthz`, { headers: { connection: 'close' } }).then(
      () => false,
      () => true,
    );
    if (refused) return;
  }
  assert.fail('the server kept accepting connections after SIGTERM');
}

for (const [label, concurrency] of [
  ['one process', '1'],
  ['cluster of 2 workers', '2'],
] as const) {
  test(`SIGTERM lets an in-flight request finish, then exits 0 [${label}]`, async (t) => {
    const server = await spawnServer(t, { env: { WEB_CONCURRENCY: concurrency } });
    const client = await registerClient(server);

    const slow = slowTokenRequest(server.url, client);
    await slow.started;
    server.child.kill('SIGTERM');
    await waitUntilRefusing(server.url);
    slow.finish();

    const { status, body } = await slow.response.catch((err: Error) =>
      assert.fail(`${err.message}\n${server.output()}`),
    );
    assert.equal(status, 200, body);
    assert.ok((JSON.parse(body) as { access_token?: string }).access_token);
    assert.equal(await server.exited, 0, server.output());
    assert.match(server.output(), /"event":"server.stopped"/);
  });
}

test('a second signal exits at once, without waiting for in-flight requests', async (t) => {
  const server = await spawnServer(t, { env: { WEB_CONCURRENCY: '1' } });
  const client = await registerClient(server);

  const slow = slowTokenRequest(server.url, client);
  await slow.started;
  server.child.kill('SIGTERM');
  await waitUntilRefusing(server.url);
  server.child.kill('SIGINT');

  assert.equal(await server.exited, 1);
  await assert.rejects(slow.response, 'the unfinished request is cut off');
  assert.match(server.output(), /"event":"server.forced_exit"/);
});
