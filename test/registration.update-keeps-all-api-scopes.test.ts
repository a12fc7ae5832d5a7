import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

const API = 'https://api.example.com';

/** `npx latchkey clients <args> --json` against the server's database, as an operator runs it. */
async function cli(idp: Latchkey, args: string[]): Promise<Record<string, unknown>> {
  const run = await runNode(
    ['bin/latchkey.js', 'clients', ...args, '--json'],
    { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey!, DATABASE_POOL_SIZE: '2' },
    { timeoutMs: 60_000 },
  );
  assert.equal(run.code, 0, stderrLines(run).join('\n'));
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/**
 * An operator may open every API scope to a registered client (`clients update --scope ''`). The
 * client's own RFC 7592 update names only OpenID scopes (it cannot name API scopes: those are the
 * operator's); it must not undo what the operator set.
 */
test('a registered client opened to all API scopes keeps them after its own RFC 7592 update', async (t) => {
  const idp = await startLatchkey(t, { REGISTRATION_ENABLED: 'true' });
  await idp.apis.create({ identifier: API, scopes: ['read', 'write'] });
  const initial = String(
    (await cli(idp, ['initial-access-token', '--grant', 'client_credentials'])).initial_access_token,
  );
  const rp = await oidc.dynamicClientRegistration(
    new URL(idp.issuer),
    { redirect_uris: [], grant_types: ['client_credentials'], response_types: [] },
    undefined,
    { execute: [oidc.allowInsecureRequests], initialAccessToken: initial },
  );
  const metadata = rp.clientMetadata();

  await cli(idp, ['update', metadata.client_id, '--scope', '']);
  assert.equal(
    (await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write' })).scope,
    'read write',
    'opened by the operator',
  );

  const update = await fetch(String(metadata.registration_client_uri), {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${String(metadata.registration_access_token)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      client_id: metadata.client_id,
      client_name: 'Renamed',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      scope: 'openid profile',
    }),
  });
  assert.equal(update.status, 200, await update.clone().text());

  assert.equal(
    (await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write' })).scope,
    'read write',
    'still all API scopes',
  );
  const shown = await cli(idp, ['show', metadata.client_id]);
  assert.equal(shown.name, 'Renamed', 'the update itself was applied');
});
