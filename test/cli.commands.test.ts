import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import pg from 'pg';
import { createAccounts } from '../src/accounts/accounts.ts';
import { createPasswordRules } from '../src/accounts/password-rules.ts';
import { createPasswordHasher } from '../src/accounts/passwords.ts';
import { createAccountStore } from '../src/accounts/store.ts';
import { createFactorStore } from '../src/mfa/factor-store.ts';
import { accountTransaction } from '../src/services.ts';
import { createTestDatabase } from './helpers/database.ts';
import { authorize, exchange, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { ROOT, type Run, runNode, stderrLines } from './helpers/processes.ts';

/** `npx latchkey <args>` as an operator runs it. */
const latchkey = (args: string[], env: Record<string, string>, stdin?: string) =>
  runNode(['bin/latchkey.js', ...args], env, { stdin, timeoutMs: 60_000 });

// biome-ignore lint/suspicious/noExplicitAny: parsed output, checked field by field
function ok(run: Run): any {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** A failure: the exit code, nothing on stdout, and exactly one line on stderr. */
function fails(run: Run, code: 1 | 2, pattern: RegExp) {
  assert.equal(run.code, code, `expected exit ${code}: ${run.stdout}${run.stderr}`);
  assert.equal(run.stdout, '');
  const lines = stderrLines(run);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, pattern);
}

/** A fresh database and the environment the CLI needs for it. */
async function cliDatabase() {
  const database = await createTestDatabase();
  return {
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
    DATABASE_POOL_SIZE: '2',
  };
}

const email = (name: string) => `${name}.${randomBytes(3).toString('hex')}@example.com`;

// Each test has its own database; they run side by side.
describe('latchkey commands end to end', { concurrency: 2 }, () => {
  test('clients: create, list, show, update, rotate-secret, delete', async () => {
    const env = await cliDatabase();
    const web = ok(
      await latchkey(
        [
          'clients',
          'create',
          '--name',
          'Web',
          '--type',
          'confidential',
          '--redirect-uri',
          'https://app.example.com/cb',
          '--json',
        ],
        env,
      ),
    );
    const spa = ok(
      await latchkey(
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
    );

    const [list, shown, listed] = await Promise.all([
      latchkey(['clients', 'list', '--json'], env),
      latchkey(['clients', 'show', web.client_id, '--json'], env),
      latchkey(['clients', 'list'], env),
    ]);
    // The table an operator reads names each app's grants and redirect URIs.
    assert.match(listed.stdout, /^client_id +type +name +grants +redirect_uris$/m);
    assert.match(
      listed.stdout,
      new RegExp(`^${web.client_id} .*authorization_code.* https://app\\.example\\.com/cb$`, 'm'),
    );
    const clients = ok(list) as Array<Record<string, unknown>>;
    assert.deepEqual(clients.map((c) => c.client_id).sort(), [web.client_id, spa.client_id].sort());
    assert.ok(!list.stdout.includes(web.client_secret), 'list never shows a secret');
    assert.deepEqual(
      ok(shown),
      clients.find((c) => c.client_id === web.client_id),
    );
    assert.equal(ok(shown).type, 'confidential');
    assert.deepEqual(ok(shown).redirect_uris, ['https://app.example.com/cb']);
    assert.equal(ok(shown).client_secret, undefined);

    const updated = ok(
      await latchkey(
        [
          'clients',
          'update',
          web.client_id,
          '--name',
          'Web 2',
          '--redirect-uri',
          'https://app.example.com/cb2',
          '--first-party',
          '--json',
        ],
        env,
      ),
    );
    assert.equal(updated.name, 'Web 2');
    assert.deepEqual(updated.redirect_uris, ['https://app.example.com/cb2']);
    assert.equal(updated.first_party, true);

    const [changeType, badUri, rotated, publicRotate, noCommand, noId] = await Promise.all([
      latchkey(['clients', 'update', web.client_id, '--type', 'public'], env),
      latchkey(['clients', 'update', web.client_id, '--redirect-uri', 'http://evil.example.com/cb'], env),
      latchkey(['clients', 'rotate-secret', web.client_id, '--json'], env),
      latchkey(['clients', 'rotate-secret', spa.client_id], env),
      latchkey(['clients'], env),
      latchkey(['clients', 'show'], env),
    ]);
    fails(changeType, 2, /^latchkey clients: --type cannot change/);
    fails(badUri, 1, /^latchkey clients: .*must use https/);
    assert.deepEqual(Object.keys(ok(rotated)).sort(), ['client_id', 'client_secret']);
    assert.notEqual(ok(rotated).client_secret, web.client_secret);
    fails(publicRotate, 1, /has no secret to rotate/);
    fails(noCommand, 2, /^latchkey clients: missing command/);
    fails(noId, 2, /client id is required/);

    assert.deepEqual(ok(await latchkey(['clients', 'delete', spa.client_id, '--json'], env)), {
      deleted: spa.client_id,
    });
    const [gone, deleteAgain] = await Promise.all([
      latchkey(['clients', 'show', spa.client_id], env),
      latchkey(['clients', 'delete', spa.client_id], env),
    ]);
    fails(gone, 1, new RegExp(`no client ${spa.client_id}`));
    fails(deleteAgain, 1, /no client/);
  });

  test('users: create, list, show and update by id or email, disable, enable, unlock, set-password, delete', async () => {
    const env = await cliDatabase();
    const address = email('grace');
    const user = ok(
      await latchkey(
        ['users', 'create', '--email', address, '--name', 'Grace', '--password-stdin', '--json'],
        env,
        `${PASSWORD}\n`,
      ),
    );

    const [duplicate, weak, noStdin, list, byEmail, byId] = await Promise.all([
      latchkey(['users', 'create', '--email', address.toUpperCase(), '--password-stdin'], env, `${PASSWORD}\n`),
      latchkey(['users', 'create', '--email', email('weak'), '--password-stdin'], env, 'short\n'),
      latchkey(['users', 'create', '--email', email('argv')], env),
      latchkey(['users', 'list', '--json'], env),
      latchkey(['users', 'show', address, '--json'], env),
      latchkey(['users', 'show', user.id, '--json'], env),
    ]);
    fails(duplicate, 1, /already exists: `latchkey users show .*` shows it, `latchkey users set-password /);
    fails(weak, 1, /at least 8 characters/);
    fails(noStdin, 2, /--password-stdin is required/);
    assert.deepEqual(
      (ok(list) as Array<{ id: string }>).map((u) => u.id),
      [user.id],
    );
    assert.deepEqual(ok(byEmail), ok(byId));
    assert.deepEqual(Object.keys(ok(byId)).sort(), [
      'created_at',
      'disabled',
      'email',
      'email_verified',
      'factors',
      'id',
      'invitation_expires_at',
      'last_login_at',
      'locked_until',
      'name',
    ]);
    assert.ok(!byId.stdout.includes('argon2'), 'no password hash');

    const updated = ok(
      await latchkey(
        ['users', 'update', address, '--name', 'Grace Hopper', '--given-name', 'Grace', '--email-verified', '--json'],
        env,
      ),
    );
    assert.equal(updated.name, 'Grace Hopper');
    assert.equal(updated.email_verified, true);
    fails(await latchkey(['users', 'update', user.id, '--email', 'not-an-email'], env), 1, /not a valid address/);

    assert.deepEqual(ok(await latchkey(['users', 'disable', address, '--json'], env)), { id: user.id, disabled: true });
    assert.equal(ok(await latchkey(['users', 'show', user.id, '--json'], env)).disabled, true);
    assert.deepEqual(ok(await latchkey(['users', 'enable', user.id, '--json'], env)), { id: user.id, disabled: false });
    assert.deepEqual(ok(await latchkey(['users', 'unlock', address, '--json'], env)), { id: user.id, locked: false });

    const newPassword = 'a brand new passphrase';
    assert.deepEqual(
      ok(await latchkey(['users', 'set-password', address, '--password-stdin', '--json'], env, `${newPassword}\n`)),
      { id: user.id, password: 'updated', locked: false, sessions_ended: true, revoked_grants: 0 },
    );
    fails(
      await latchkey(['users', 'set-password', address, '--password-stdin'], env, 'short\n'),
      1,
      /at least 8 characters/,
    );
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 1 });
    try {
      const accounts = createAccounts({
        store: createAccountStore(pool),
        claimAttempt: createFactorStore(pool).claimSignIn,
        passwords: createPasswordHasher({ memoryKib: 19456, iterations: 2 }),
        rules: createPasswordRules({ minLength: 8 }),
        lockout: { threshold: 10, lockSeconds: 900 },
        transaction: accountTransaction(pool),
      });
      assert.equal((await accounts.signIn(address, newPassword)).ok, true, 'the new password signs in');
      assert.equal((await accounts.signIn(address, PASSWORD)).ok, false, 'the old one does not');
    } finally {
      await pool.end();
    }

    assert.deepEqual(ok(await latchkey(['users', 'delete', address, '--json'], env)), { deleted: user.id });
    const [gone, noCommand] = await Promise.all([latchkey(['users', 'show', address], env), latchkey(['users'], env)]);
    fails(gone, 1, /no user/);
    fails(noCommand, 2, /^latchkey users: missing command/);
  });

  test('users revoke-grants signs the user out of every app: the refresh token stops working', async (t) => {
    const idp = await startLatchkey(t);
    const env = { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey! };
    const user = await idp.users.create();
    const client = await idp.clients.create({ grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await idp.rp(client);
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await exchange(rp, flow);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token, 'refresh works before');

    const grants = ok(await latchkey(['users', 'grants', user.email, '--json'], env)) as Array<Record<string, unknown>>;
    assert.equal(grants.length, 1);
    assert.equal(grants[0]!.client_id, client.clientId);

    assert.deepEqual(ok(await latchkey(['users', 'revoke-grants', user.email, '--json'], env)), {
      id: user.id,
      revoked_grants: 1,
    });
    await assert.rejects(
      oidc.refreshTokenGrant(rp, refreshed.refresh_token!),
      (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
    );
    assert.deepEqual(ok(await latchkey(['users', 'grants', user.id, '--json'], env)), []);
    const again = await authorize(idp, rp, { email: user.email, agent: flow.agent });
    assert.equal(again.sawLogin, true, 'the browser session ended too');
    assert.equal(again.sawConsent, true, 'the consent is gone');
  });

  test('clients rotate-secret: the new secret works on a running server and the old one stops', async (t) => {
    const idp = await startLatchkey(t);
    const env = { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey! };
    const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
    const grant = (secret: string) =>
      fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      }).then((response) => response.status);
    assert.equal(await grant(client.clientSecret!), 200);

    const { client_secret: secret } = ok(await latchkey(['clients', 'rotate-secret', client.clientId, '--json'], env));
    let status = 0;
    // Nodes learn of the change through a notification: allow it a moment to arrive.
    for (const deadline = Date.now() + 5000; status !== 200 && Date.now() < deadline; await sleep(50))
      status = await grant(secret);
    assert.equal(status, 200);
    assert.equal(await grant(client.clientSecret!), 401);
  });

  test('apis: create, list, show, delete', async () => {
    const env = await cliDatabase();
    const api = ok(
      await latchkey(
        [
          'apis',
          'create',
          '--identifier',
          'https://api.example.com',
          '--scope',
          'read write',
          '--name',
          'Example',
          '--ttl',
          '600',
          '--json',
        ],
        env,
      ),
    );
    assert.equal(api.identifier, 'https://api.example.com');
    assert.deepEqual(api.scopes, ['read', 'write']);
    assert.equal(api.access_token_ttl, 600);
    assert.equal(api.signing_alg, 'ES256');

    const [duplicate, notUri, badTtl, list, shown] = await Promise.all([
      latchkey(['apis', 'create', '--identifier', 'https://api.example.com', '--scope', 'read'], env),
      latchkey(['apis', 'create', '--identifier', 'not a uri', '--scope', 'read'], env),
      latchkey(['apis', 'create', '--identifier', 'https://other.example.com', '--ttl', 'soon'], env),
      latchkey(['apis', 'list', '--json'], env),
      latchkey(['apis', 'show', 'https://api.example.com', '--json'], env),
    ]);
    fails(duplicate, 1, /an API with identifier https:\/\/api\.example\.com already exists/);
    fails(notUri, 1, /must be an absolute URI/);
    fails(badTtl, 2, /--ttl must be a number/);
    assert.deepEqual(ok(list), [api]);
    assert.deepEqual(ok(shown), api);

    assert.deepEqual(ok(await latchkey(['apis', 'delete', 'https://api.example.com', '--json'], env)), {
      deleted: 'https://api.example.com',
    });
    fails(await latchkey(['apis', 'show', 'https://api.example.com'], env), 1, /no API/);
  });

  test('keys list, retire and rotate; janitor; audit tail', async () => {
    const env = await cliDatabase();
    type Key = { kid: string; alg: string; state: string; published_until: string | null };
    const keys = ok(await latchkey(['keys', 'list', '--json'], env)) as Key[];
    assert.deepEqual(keys.map((k) => `${k.alg}:${k.state}`).sort(), [
      'ES256:active',
      'ES256:next',
      'RS256:active',
      'RS256:next',
    ]);
    // Typed as an argument, a kid must not read as an option.
    assert.ok(keys.every((k) => !k.kid.startsWith('-')));
    const next = keys.find((k) => k.alg === 'ES256' && k.state === 'next')!;

    assert.deepEqual(ok(await latchkey(['keys', 'retire', next.kid, '--json'], env)), { retired: next.kid });
    const [again, unknown, afterRetire] = await Promise.all([
      latchkey(['keys', 'retire', next.kid], env),
      latchkey(['keys', 'retire', 'no-such-kid'], env),
      latchkey(['keys', 'list', '--json'], env),
    ]);
    fails(again, 1, /already retired/);
    fails(unknown, 1, /no key no-such-kid/);
    const retired = (ok(afterRetire) as Key[]).find((k) => k.kid === next.kid)!;
    assert.equal(retired.state, 'retired');
    assert.ok(retired.published_until && new Date(retired.published_until) > new Date(), 'still published for a while');

    const { rotated } = ok(await latchkey(['keys', 'rotate', '--json'], env)) as {
      rotated: Array<{ alg: string; activated: string; next: string }>;
    };
    assert.deepEqual(rotated.map((r) => r.alg).sort(), ['ES256', 'RS256']);
    const afterRotate = ok(await latchkey(['keys', 'list', '--json'], env)) as Key[];
    for (const r of rotated) {
      assert.equal(afterRotate.find((k) => k.kid === r.activated)?.state, 'active');
      assert.equal(afterRotate.find((k) => k.kid === r.next)?.state, 'next');
    }

    assert.deepEqual(ok(await latchkey(['janitor', '--json'], env)), {
      removed: 0,
      skipped: false,
      mails_removed: 0,
      links_removed: 0,
      challenges_removed: 0,
    });
    fails(await latchkey(['janitor', '--limit', '0'], env), 2, /must be positive numbers/);

    const tail = await latchkey(['audit', 'tail', '--json'], env);
    assert.equal(tail.code, 0, tail.stderr);
    const events = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; details: unknown });
    assert.deepEqual(
      events.map((e) => e.event),
      ['key.retired', 'key.rotated'],
    );
    fails(await latchkey(['audit', 'list'], env), 2, /unknown command: audit list/);
  });

  test('audit tail --follow prints events as they happen', async (t) => {
    const env = await cliDatabase();
    await latchkey(['migrate'], env);
    const follower = spawn(process.execPath, ['bin/latchkey.js', 'audit', 'tail', '--follow', '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    const exited = new Promise((resolve) => follower.once('exit', resolve));
    t.after(async () => {
      follower.kill('SIGTERM');
      await exited;
    });
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });

    const created = ok(
      await latchkey(
        ['users', 'create', '--email', email('follow'), '--password-stdin', '--json'],
        env,
        `${PASSWORD}\n`,
      ),
    );
    for (const deadline = Date.now() + 15_000; !output.includes('user.created') && Date.now() < deadline; )
      await sleep(100);
    const line = output
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as { event: string; account_id: string })
      .find((e) => e.event === 'user.created');
    assert.equal(line?.account_id, created.id);
  });

  test('failures: one line on stderr and a non-zero exit', async () => {
    const env = await cliDatabase();
    const unreachable = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_CONNECT_TIMEOUT_MS: '500' };
    const [noDatabase, badConfig, badOption, badKey] = await Promise.all([
      latchkey(['users', 'list'], unreachable),
      latchkey(['users', 'list'], { DATABASE_URL: 'mysql://localhost/db' }),
      latchkey(['users', 'list', '--colour'], env),
      latchkey(['clients', 'list'], { ...unreachable, LATCHKEY_SECRET_KEY: 'short' }),
    ]);
    fails(noDatabase, 1, /^latchkey users: cannot connect to PostgreSQL/);
    fails(badConfig, 1, /^latchkey users: config: DATABASE_URL: /);
    fails(badOption, 2, /^latchkey users: .*--colour/);
    fails(badKey, 1, /^latchkey clients: config: LATCHKEY_SECRET_KEY: /);
  });
});
