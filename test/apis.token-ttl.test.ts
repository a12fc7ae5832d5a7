import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { createApiResourceStore } from '../src/oidc/api-resource-store.ts';
import { type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

/** `npx latchkey apis <args>` against the server's database, as an operator runs it. */
function apis(idp: Latchkey, args: string[], env: Record<string, string> = {}) {
  return runNode(
    ['bin/latchkey.js', 'apis', ...args],
    { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey!, DATABASE_POOL_SIZE: '2', ...env },
    { timeoutMs: 60_000 },
  );
}

async function tokenLifetime(idp: Latchkey, resource: string): Promise<number> {
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const tokens = await oidc.clientCredentialsGrant(await idp.rp(client), { resource, scope: 'read' });
  const { exp, iat } = decodeJwt(tokens.access_token);
  return exp! - iat!;
}

test('API access tokens (JWTs nothing can revoke) live at most 900 s unless the operator sets --ttl', async (t) => {
  const idp = await startLatchkey(t); // ACCESS_TOKEN_TTL: the default hour
  const [created, human, shorter, longer] = await Promise.all([
    apis(idp, ['create', '--identifier', 'https://default.example.com', '--scope', 'read', '--json']),
    apis(idp, ['create', '--identifier', 'https://human.example.com', '--scope', 'read']),
    apis(idp, ['create', '--identifier', 'https://short.example.com', '--scope', 'read', '--json'], {
      ACCESS_TOKEN_TTL: '300',
    }),
    apis(idp, ['create', '--identifier', 'https://long.example.com', '--scope', 'read', '--ttl', '3600', '--json']),
  ]);
  for (const run of [created, human, shorter, longer]) assert.equal(run.code, 0, stderrLines(run).join('\n'));

  assert.equal((JSON.parse(created.stdout) as { access_token_ttl: number }).access_token_ttl, 900);
  assert.match(human.stdout, /^access_token_ttl\s+900$/m, 'the TTL it applies, not "-"');
  assert.equal(
    (JSON.parse(shorter.stdout) as { access_token_ttl: number }).access_token_ttl,
    300,
    'a shorter ACCESS_TOKEN_TTL wins',
  );
  assert.equal(
    (JSON.parse(longer.stdout) as { access_token_ttl: number }).access_token_ttl,
    3600,
    'an explicit --ttl is kept',
  );

  assert.equal(await tokenLifetime(idp, 'https://default.example.com'), 900);
  assert.equal(await tokenLifetime(idp, 'https://long.example.com'), 3600);

  // An API stored before the default was written down (no TTL of its own) gets the same cap.
  await createApiResourceStore(idp.server.database.pool).insert({
    id: randomUUID(),
    identifier: 'https://old.example.com',
    name: 'Old',
    scopes: ['read'],
    access_token_ttl: null,
    signing_alg: 'ES256',
  });
  assert.equal(await tokenLifetime(idp, 'https://old.example.com'), 900);
  const shown = await apis(idp, ['show', 'https://old.example.com', '--json']);
  assert.equal((JSON.parse(shown.stdout) as { access_token_ttl: number }).access_token_ttl, 900);
});
