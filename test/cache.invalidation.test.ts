import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClients } from '../src/clients/clients.ts';
import { createClientStore } from '../src/clients/store.ts';
import { createApiResourceStore } from '../src/oidc/api-resource-store.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { type Latchkey, startLatchkey } from './helpers/latchkey.ts';

/**
 * Servers keep clients and APIs in memory (src/db/notified-cache.ts); a change made anywhere else (the
 * CLI, another node: here, a separate pool on the same database) reaches them through
 * LISTEN/NOTIFY. The notification arrives asynchronously, so each test retries its request a
 * bounded number of times until the change shows.
 */

const API = 'https://api.example.com';

function clientCredentials(idp: Latchkey, clientId: string, secret: string, resource?: string) {
  return fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(resource ? { resource } : {}) }),
  });
}

/** Repeats `attempt` (at most 50 times, 100 ms apart) until it returns true; the last result decides. */
async function eventually(attempt: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 50; i += 1) {
    if (await attempt()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return attempt();
}

test('a rotated client secret stops working on a running server that had the client cached', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  // Twice: the first request loads the client, the second is served from the cache.
  for (let i = 0; i < 2; i += 1)
    assert.equal((await clientCredentials(idp, client.clientId, client.clientSecret!)).status, 200);

  const clients = createClients({
    store: createClientStore(idp.server.database.pool),
    box: createSecretBox(idp.config.secretKey!),
  });
  const rotated = await clients.rotateSecret(client.clientId);
  assert.ok(rotated);

  assert.ok(
    await eventually(async () => (await clientCredentials(idp, client.clientId, client.clientSecret!)).status === 401),
    'the old secret is refused once the change is known',
  );
  assert.equal((await clientCredentials(idp, client.clientId, rotated)).status, 200);
});

test('a deleted client is refused on a running server that had it cached', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  assert.equal((await clientCredentials(idp, client.clientId, client.clientSecret!)).status, 200);

  assert.ok(await createClientStore(idp.server.database.pool).delete(client.clientId));

  assert.ok(
    await eventually(async () => (await clientCredentials(idp, client.clientId, client.clientSecret!)).status === 401),
  );
});

test('a deleted API is no longer a valid resource on a running server that had it cached', async (t) => {
  const idp = await startLatchkey(t);
  await idp.apis.create({ identifier: API, scopes: ['read'] });
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  assert.equal((await clientCredentials(idp, client.clientId, client.clientSecret!, API)).status, 200);

  assert.ok(await createApiResourceStore(idp.server.database.pool).delete(API));

  assert.ok(
    await eventually(async () => {
      const response = await clientCredentials(idp, client.clientId, client.clientSecret!, API);
      return response.status === 400 && ((await response.json()) as { error: string }).error === 'invalid_target';
    }),
  );
});
