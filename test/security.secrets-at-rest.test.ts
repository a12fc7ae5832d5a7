import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { createKeyStore } from '../src/oidc/key-store.ts';
import { loadKeyMaterial } from '../src/oidc/keys.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { authorize, exchange, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { enrolTotp } from './helpers/mfa.ts';

test('a dump of the database holds no client secret, private key, cookie key, password, code, token or session id', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ grantTypes: ['authorization_code', 'refresh_token'] });
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const code = flow.callback.searchParams.get('code')!;
  const tokens = await exchange(rp, flow);
  const rotated = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  const jar = flow.agent.cookies();
  const sessionId = jar.find((c) => c.name === '_session')?.value;
  assert.ok(sessionId, 'the browser has a session');
  // An authenticator app (its key sealed) and recovery codes (keyed digests).
  const totp = await enrolTotp(idp, user);

  const pool = idp.server.database.pool;
  const keys = await loadKeyMaterial(createKeyStore(pool), createSecretBox(idp.config.secretKey!));
  const privateParts = keys.jwks.keys
    .flatMap((jwk) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((part) => (jwk as Record<string, unknown>)[part]))
    .filter((value): value is string => typeof value === 'string');
  assert.ok(privateParts.length >= 2, 'the keys have private parts to look for');

  const { rows: tables } = await pool.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
  );
  let dump = '';
  for (const { table_name: table } of tables) {
    const { rows } = await pool.query<{ row: string }>(`select t::text as row from "${table}" t`);
    dump += rows.map((row) => row.row).join('\n');
  }
  assert.ok(dump.includes(user.id) && dump.includes(client.clientId), 'the dump has the data');

  const secrets: Record<string, string> = {
    clientSecret: client.clientSecret!,
    password: PASSWORD,
    code,
    codeVerifier: flow.codeVerifier,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token!,
    rotatedAccessToken: rotated.access_token,
    rotatedRefreshToken: rotated.refresh_token!,
    sessionId,
    secretKey: idp.config.secretKey!,
    totpKey: totp.secret,
    ...Object.fromEntries(
      totp.recoveryCodes.flatMap((code, i) => [
        [`recoveryCode${i}`, code],
        [`recoveryCodeBare${i}`, code.replace('-', '')],
      ]),
    ),
    ...Object.fromEntries(keys.cookieKeys.map((key, i) => [`cookieKey${i}`, key])),
    ...Object.fromEntries(privateParts.map((part, i) => [`privateKeyPart${i}`, part])),
  };
  const found = Object.entries(secrets)
    .filter(([, value]) => dump.includes(value))
    .map(([name]) => name);
  assert.deepEqual(found, [], 'nothing secret is stored readable');

  const {
    rows: [account],
  } = await pool.query<{ password_hash: string }>('select password_hash from accounts where id = $1', [user.id]);
  assert.match(account!.password_hash, /^\$argon2id\$/, 'passwords are argon2id hashes');
});
