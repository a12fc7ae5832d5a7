import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createClients, generateClientId } from '../src/clients/clients.ts';
import { createClientStore } from '../src/clients/store.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { createTestDatabase } from './helpers/database.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

test('a client id never starts with "-" or "_", so the CLI never reads it as an option', () => {
  // The old generator gave a leading "-" once in 64 ids: 20 000 ids would show it about 300 times.
  const ids = Array.from({ length: 20_000 }, generateClientId);
  assert.deepEqual(
    ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/.test(id)),
    [],
  );
  assert.equal(new Set(ids).size, ids.length);
});

test('an existing client whose id starts with "-" is reachable on the command line after --', async (t) => {
  const database = await createTestDatabase();
  const pool = createPool({
    connectionString: database.url,
    max: 2,
    connectTimeoutMs: 5000,
    log: createLogger({ level: 'silent' }),
  });
  t.after(async () => {
    await pool.end();
    await database.drop();
  });
  await migrate(pool, createLogger({ level: 'silent' }));
  const secretKey = randomBytes(32).toString('base64url');
  const box = createSecretBox(secretKey);
  const clients = createClients({ store: createClientStore(pool), box });
  // An id as the old generator made one time in 64, written as it was then.
  const dashed = `-s${randomBytes(15).toString('base64url')}`;
  await clients.store.insert({
    client_id: dashed,
    name: 'Old App',
    type: 'confidential',
    application_type: 'web',
    secret_sealed: box.seal('old secret'),
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: ['https://app.example.com/cb'],
    post_logout_redirect_uris: [],
    grant_types: ['authorization_code'],
    scope: '',
    first_party: false,
    require_pkce: true,
    metadata: {},
  });
  const env = { DATABASE_URL: database.url, LATCHKEY_SECRET_KEY: secretKey, DATABASE_POOL_SIZE: '2' };
  const latchkey = (args: string[]) => runNode(['bin/latchkey.js', ...args], env, { timeoutMs: 60_000 });

  const [shown, rotated, help] = await Promise.all([
    latchkey(['clients', 'show', '--json', '--', dashed]),
    latchkey(['clients', 'rotate-secret', '--json', '--', dashed]),
    latchkey(['clients', '--help']),
  ]);
  assert.equal(shown.code, 0, stderrLines(shown).join('\n'));
  assert.equal((JSON.parse(shown.stdout) as { client_id: string }).client_id, dashed);
  assert.equal(rotated.code, 0, stderrLines(rotated).join('\n'));
  const out = JSON.parse(rotated.stdout) as { client_id: string; client_secret: string };
  assert.equal(out.client_id, dashed);
  assert.equal(
    box.open((await clients.store.findById(dashed))!.secret_sealed!),
    out.client_secret,
    'the new secret is the stored one',
  );
  assert.match(help.stdout, /clients show -- -/, 'the help says how to pass such an id');
});
