import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { readMigrations } from '../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { type Run, runNode, stderrLines } from './helpers/processes.ts';

/** `npx latchkey <args>` as an operator runs it, with exactly `env`. */
const latchkey = (args: string[], env: Record<string, string>, stdin?: string) =>
  runNode(['bin/latchkey.js', ...args], env, { stdin });

// biome-ignore lint/suspicious/noExplicitAny: parsed output, checked field by field
function json(run: Run): Record<string, any> {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

// The commands are independent processes on one database: run them side by side.
describe('latchkey CLI', { concurrency: true }, () => {
  let database: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-cli-'));
    env = {
      DATABASE_URL: database.url,
      LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
      LATCHKEY_DATA_DIR: dataDir,
    };
  });
  after(async () => {
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('--help exits 0 and lists the commands; an unknown command exits 2', async () => {
    const [help, unknown] = await Promise.all([latchkey(['--help'], {}), latchkey(['frobnicate'], {})]);
    assert.equal(help.code, 0);
    for (const command of ['serve', 'migrate', 'clients', 'users'])
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    assert.equal(unknown.code, 2);
    assert.equal(stderrLines(unknown).length, 1, unknown.stderr);
    assert.match(unknown.stderr, /unknown command frobnicate/);
  });

  test('migrate --json migrates the database at DATABASE_URL, then has nothing left to apply', async () => {
    // A database of its own: the other commands here migrate theirs on opening.
    const fresh = await createTestDatabase();
    try {
      const freshEnv = { ...env, DATABASE_URL: fresh.url };
      const first = json(await latchkey(['migrate', '--json'], freshEnv));
      assert.deepEqual(first, { status: 'up to date', applied: (await readMigrations()).map((m) => m.name) });
      const client = new pg.Client({ connectionString: fresh.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>('select count(*)::int as n from schema_migrations');
        assert.equal(rows[0]!.n, first.applied.length, 'migrations recorded');
      } finally {
        await client.end();
      }
      assert.deepEqual(json(await latchkey(['migrate', '--json'], freshEnv)), { status: 'up to date', applied: [] });
    } finally {
      await fresh.drop();
    }
  });

  test('clients create --json prints exactly the client_id, and the secret of a confidential client', async () => {
    const [confidential, pub] = await Promise.all([
      latchkey(
        [
          'clients',
          'create',
          '--name',
          'Web App',
          '--type',
          'confidential',
          '--redirect-uri',
          'https://app.example.com/cb',
          '--json',
        ],
        env,
      ),
      latchkey(
        [
          'clients',
          'create',
          '--name',
          'SPA',
          '--type',
          'public',
          '--redirect-uri',
          'https://spa.example.com/cb',
          '--json',
        ],
        env,
      ),
    ]);
    const secret = json(confidential);
    assert.deepEqual(Object.keys(secret).sort(), ['client_id', 'client_secret']);
    assert.equal(typeof secret.client_id, 'string');
    assert.ok((secret.client_secret as string).length >= 32, 'a high-entropy secret');
    const open = json(pub);
    assert.deepEqual(Object.keys(open), ['client_id']);
    assert.notEqual(open.client_id, secret.client_id);
  });

  test('clients create with a bad redirect URI exits 1 with one line on stderr', async () => {
    const run = await latchkey(
      ['clients', 'create', '--name', 'Bad', '--type', 'confidential', '--redirect-uri', 'not a url', '--json'],
      env,
    );
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    const lines = stderrLines(run);
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^latchkey clients: .*redirect/i);
  });

  test('users create --password-stdin --json prints the id and email', async () => {
    const email = `ada.${randomBytes(3).toString('hex')}@example.com`;
    const out = json(
      await latchkey(
        ['users', 'create', '--email', email, '--name', 'Ada', '--password-stdin', '--json'],
        env,
        'correct horse battery staple\n',
      ),
    );
    assert.deepEqual(Object.keys(out).sort(), ['email', 'id']);
    assert.equal(out.email, email);
    assert.equal(typeof out.id, 'string');
  });
});
