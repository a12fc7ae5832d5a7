import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { createTestDatabase } from './helpers/database.ts';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

const silent = createLogger({ level: 'silent' });

test('a confidential client created now must send PKCE unless created with --allow-no-pkce', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const env = { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey!, DATABASE_POOL_SIZE: '2' };
  const cli = (args: string[]) =>
    runNode(['bin/latchkey.js', 'clients', ...args, '--json'], env, { timeoutMs: 60_000 });
  const created = (args: string[]) =>
    cli(['create', '--name', 'Backend', '--type', 'confidential', '--redirect-uri', CALLBACK, ...args]);
  const [byDefault, allowed, both] = await Promise.all([
    created([]),
    created(['--allow-no-pkce']),
    created(['--require-pkce', '--allow-no-pkce']),
  ]);
  assert.equal(byDefault.code, 0, stderrLines(byDefault).join('\n'));
  assert.equal(allowed.code, 0, stderrLines(allowed).join('\n'));
  assert.equal(both.code, 2, 'the two flags exclude each other');
  const strict = JSON.parse(byDefault.stdout) as { client_id: string; client_secret: string };
  const lax = JSON.parse(allowed.stdout) as { client_id: string; client_secret: string };

  await t.test('without code_challenge the browser goes back with invalid_request, before any sign-in', async () => {
    const rp = await idp.rp({ clientId: strict.client_id, clientSecret: strict.client_secret }, 'basic');
    const flow = await authorize(idp, rp, { email: user.email, pkce: false });
    assert.equal(`${flow.callback.origin}${flow.callback.pathname}`, CALLBACK);
    assert.equal(flow.callback.searchParams.get('error'), 'invalid_request');
    assert.match(flow.callback.searchParams.get('error_description') ?? '', /requires PKCE/);
    assert.equal(flow.callback.searchParams.get('code'), null);
    assert.equal(flow.sawLogin, false);
  });

  await t.test('with PKCE it signs the user in', async () => {
    const rp = await idp.rp({ clientId: strict.client_id, clientSecret: strict.client_secret }, 'basic');
    const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email }));
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test('a client created with --allow-no-pkce signs the user in without PKCE', async () => {
    const rp = await idp.rp({ clientId: lax.client_id, clientSecret: lax.client_secret }, 'basic');
    const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email, pkce: false }), false);
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test('clients show says which; update switches it; a public client cannot skip PKCE', async () => {
    const [shownStrict, shownLax, publicLax] = await Promise.all([
      cli(['show', strict.client_id]),
      cli(['show', lax.client_id]),
      cli(['create', '--name', 'SPA', '--type', 'public', '--redirect-uri', CALLBACK, '--allow-no-pkce']),
    ]);
    // After the show of the same client, not beside it: the two would race.
    const toStrict = await cli(['update', lax.client_id, '--require-pkce']);
    assert.equal((JSON.parse(shownStrict.stdout) as { require_pkce: boolean }).require_pkce, true);
    assert.equal((JSON.parse(shownLax.stdout) as { require_pkce: boolean }).require_pkce, false);
    assert.equal((JSON.parse(toStrict.stdout) as { require_pkce: boolean }).require_pkce, true);
    assert.equal(publicLax.code, 1);
    assert.match(stderrLines(publicLax).join('\n'), /public client always uses PKCE/);
  });
});

test('a confidential client registered before PKCE became the default keeps signing in without it', async (t) => {
  // A database as the previous release left it: every migration before 0006, and a client row.
  const database = await createTestDatabase();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-migrations-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const migration of (await readMigrations()).filter((m) => m.version < 6)) {
    await copyFile(path.join(MIGRATIONS_DIR, `${migration.name}.sql`), path.join(dir, `${migration.name}.sql`));
  }
  const secretKey = randomBytes(32).toString('base64url');
  const clientId = randomBytes(16).toString('hex');
  const clientSecret = randomBytes(32).toString('base64url');
  const pool = createPool({ connectionString: database.url, max: 1, connectTimeoutMs: 5000, log: silent });
  try {
    await migrate(pool, silent, dir);
    await pool.query(
      `insert into clients (client_id, name, type, secret_sealed, token_endpoint_auth_method, redirect_uris, grant_types, scope)
      values ($1, 'Old Backend', 'confidential', $2, 'client_secret_basic', $3, '{authorization_code}', '')`,
      [clientId, createSecretBox(secretKey).seal(clientSecret), [CALLBACK]],
    );
  } finally {
    await pool.end();
  }

  // This release migrates it on start.
  const idp = await startLatchkey(t, { LATCHKEY_SECRET_KEY: secretKey }, { database });
  const user = await idp.users.create();
  const rp = await idp.rp({ clientId, clientSecret }, 'basic');
  const tokens = await exchange(rp, await authorize(idp, rp, { email: user.email, pkce: false }), false);
  assert.equal(tokens.claims()?.sub, user.id);
  const { rows } = await idp.server.database.pool.query<{ require_pkce: boolean }>(
    'select require_pkce from clients where client_id = $1',
    [clientId],
  );
  assert.equal(rows[0]?.require_pkce, false);
});
