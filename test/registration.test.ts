import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { authorize, CALLBACK, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

/** `npx latchkey clients initial-access-token --json` against the server's database, as an operator runs it. */
async function initialAccessToken(idp: Latchkey): Promise<string> {
  const run = await runNode(
    ['bin/latchkey.js', 'clients', 'initial-access-token', '--json'],
    { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey!, DATABASE_POOL_SIZE: '2' },
    { timeoutMs: 60_000 },
  );
  assert.equal(run.code, 0, stderrLines(run).join('\n'));
  const out = JSON.parse(run.stdout) as { initial_access_token: string; expires_at: string };
  assert.ok(Date.parse(out.expires_at) > Date.now());
  return out.initial_access_token;
}

function register(idp: Latchkey, metadata: Partial<oidc.ClientMetadata>, initial?: string) {
  return oidc.dynamicClientRegistration(new URL(idp.issuer), metadata, undefined, {
    execute: [oidc.allowInsecureRequests],
    ...(initial ? { initialAccessToken: initial } : {}),
  });
}

test('dynamic registration is off by default', async (t) => {
  const idp = await startLatchkey(t);
  const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.equal(metadata.registration_endpoint, undefined);
  const response = await fetch(`${idp.issuer}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ redirect_uris: [CALLBACK] }),
  });
  assert.equal(response.status, 404);
});

test('dynamic client registration (RFC 7591/7592) with REGISTRATION_ENABLED', async (t) => {
  const idp = await startLatchkey(t, { REGISTRATION_ENABLED: 'true' });
  const user = await idp.users.create();
  const initial = await initialAccessToken(idp);

  await t.test('discovery advertises the registration endpoint', async () => {
    const metadata = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(metadata.registration_endpoint, `${idp.issuer}/register`);
  });

  await t.test('registering without an initial access token, or with a made-up one, is refused', async () => {
    await assert.rejects(register(idp, { redirect_uris: [CALLBACK] }), (err: unknown) => {
      assert.ok(err instanceof oidc.WWWAuthenticateChallengeError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.cause[0]?.scheme, 'bearer');
      return true;
    });
    await assert.rejects(register(idp, { redirect_uris: [CALLBACK] }, 'made-up-token'), oauthError('invalid_token'));
  });

  await t.test('a registered client lands in the clients table and can sign a user in', async () => {
    const rp = await register(
      idp,
      {
        client_name: 'Registered App',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        first_party: true,
      },
      initial,
    );
    const { client_id: clientId, client_secret: secret } = rp.clientMetadata();
    assert.ok(clientId && typeof secret === 'string');

    const { rows } = await idp.server.database.pool.query<{
      name: string;
      type: string;
      first_party: boolean;
      secret_sealed: string;
    }>('select name, type, first_party, secret_sealed from clients where client_id = $1', [clientId]);
    assert.equal(rows[0]?.name, 'Registered App');
    assert.equal(rows[0]?.type, 'confidential');
    assert.equal(rows[0]?.first_party, false, 'a registrant cannot make itself first-party');
    assert.ok(
      rows[0]?.secret_sealed && !rows[0].secret_sealed.includes(secret as string),
      'the secret is sealed at rest',
    );

    const flow = await authorize(idp, rp, { email: user.email });
    assert.equal(flow.sawConsent, true, 'consent is asked: the app is third-party');
    const tokens = await exchange(rp, flow);
    assert.equal(tokens.claims()?.sub, user.id);
  });

  await t.test('redirect URIs follow the same rules as the CLI', async () => {
    await assert.rejects(
      register(idp, { redirect_uris: ['http://app.example.com/callback'] }, initial),
      oauthError('invalid_redirect_uri'),
    );
    await assert.rejects(
      register(idp, { redirect_uris: ['https://app.example.com/*'] }, initial),
      oauthError('invalid_redirect_uri'),
    );
  });

  await t.test('the registration access token reads, updates and deletes the registration (RFC 7592)', async () => {
    const rp = await register(idp, { client_name: 'Managed App', redirect_uris: [CALLBACK] }, initial);
    const metadata = rp.clientMetadata();
    const uri = String(metadata.registration_client_uri);
    let token = String(metadata.registration_access_token);
    assert.ok(uri.startsWith(`${idp.issuer}/register/`));

    const read = await fetch(uri, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200);
    assert.equal(((await read.json()) as { client_name: string }).client_name, 'Managed App');

    const update = await fetch(uri, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: metadata.client_id, client_name: 'Renamed App', redirect_uris: [CALLBACK] }),
    });
    assert.equal(update.status, 200);
    token = ((await update.json()) as { registration_access_token: string }).registration_access_token;
    const { rows } = await idp.server.database.pool.query<{ name: string }>(
      'select name from clients where client_id = $1',
      [metadata.client_id],
    );
    assert.equal(rows[0]?.name, 'Renamed App');

    const removed = await fetch(uri, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.equal(removed.status, 204);
    const gone = await idp.server.database.pool.query('select 1 from clients where client_id = $1', [
      metadata.client_id,
    ]);
    assert.equal(gone.rowCount, 0);
  });
});
