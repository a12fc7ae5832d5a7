import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { authorize, CALLBACK, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { oauthError } from './helpers/oauth-errors.ts';
import { type Run, runNode, stderrLines } from './helpers/processes.ts';

const API = 'https://api.example.com';

/** `npx latchkey clients initial-access-token <args> --json` against the server's database, as an operator runs it. */
function initialAccessToken(idp: Latchkey, args: string[] = []): Promise<Run> {
  return runNode(
    ['bin/latchkey.js', 'clients', 'initial-access-token', ...args, '--json'],
    { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey!, DATABASE_POOL_SIZE: '2' },
    { timeoutMs: 60_000 },
  );
}

function tokenOf(run: Run): string {
  assert.equal(run.code, 0, stderrLines(run).join('\n'));
  return (JSON.parse(run.stdout) as { initial_access_token: string }).initial_access_token;
}

function register(idp: Latchkey, metadata: Partial<oidc.ClientMetadata>, initial: string) {
  return oidc.dynamicClientRegistration(new URL(idp.issuer), metadata, undefined, {
    execute: [oidc.allowInsecureRequests],
    initialAccessToken: initial,
  });
}

test('a registered client gets only the API scopes and client_credentials its initial access token allowed', async (t) => {
  const idp = await startLatchkey(t, { REGISTRATION_ENABLED: 'true' });
  await idp.apis.create({ identifier: API, scopes: ['read', 'write'] });
  const user = await idp.users.create();
  const [plainRun, machineRun, unknownScope, otherGrant] = await Promise.all([
    initialAccessToken(idp),
    initialAccessToken(idp, ['--scope', 'read', '--grant', 'client_credentials']),
    initialAccessToken(idp, ['--scope', 'read delete']),
    initialAccessToken(idp, ['--grant', 'refresh_token']),
  ]);
  const plain = tokenOf(plainRun);
  const machine = tokenOf(machineRun);

  await t.test('the CLI refuses to allow a scope no API has, or a grant that needs no allowing', () => {
    assert.equal(unknownScope.code, 1);
    assert.match(stderrLines(unknownScope).join('\n'), /scope delete is not a scope of any registered API/);
    assert.equal(otherGrant.code, 1);
    assert.match(stderrLines(otherGrant).join('\n'), /refresh_token needs no allowing/);
  });

  await t.test('a plain initial access token cannot register a client_credentials client', async () => {
    await assert.rejects(
      register(idp, { redirect_uris: [], grant_types: ['client_credentials'], response_types: [] }, plain),
      oauthError('invalid_client_metadata'),
    );
  });

  await t.test('a client it registered gets no API scope in the code flow', async () => {
    const rp = await register(idp, { redirect_uris: [CALLBACK], grant_types: ['authorization_code'] }, plain);
    const flow = await authorize(idp, rp, { email: user.email, scope: 'openid read write', resource: API });
    const tokens = await oidc.authorizationCodeGrant(
      rp,
      flow.callback,
      { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state, expectedNonce: flow.nonce },
      { resource: API },
    );
    assert.ok(
      !(tokens.scope ?? '').split(' ').some((scope) => scope === 'read' || scope === 'write'),
      `scope: ${tokens.scope}`,
    );
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, API);
    assert.ok(!String(claims.scope ?? '').includes('read'), `JWT scope: ${String(claims.scope)}`);
  });

  await t.test('nor can it add client_credentials or API scopes by updating its registration (RFC 7592)', async () => {
    const rp = await register(idp, { redirect_uris: [CALLBACK], grant_types: ['authorization_code'] }, plain);
    const metadata = rp.clientMetadata();
    const update = await fetch(String(metadata.registration_client_uri), {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${String(metadata.registration_access_token)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        client_id: metadata.client_id,
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        api_scopes: 'read write',
      }),
    });
    assert.equal(update.status, 400);
    assert.equal(((await update.json()) as { error: string }).error, 'invalid_client_metadata');
    await assert.rejects(
      oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read' }),
      oauthError('unauthorized_client'),
    );
  });

  await t.test(
    'a token issued with --scope read --grant client_credentials registers a machine client for read only',
    async () => {
      const rp = await register(
        idp,
        { redirect_uris: [], grant_types: ['client_credentials'], response_types: [], api_scopes: 'read write' },
        machine,
      );
      const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write' });
      assert.equal(tokens.scope, 'read');
      assert.equal(decodeJwt(tokens.access_token).scope, 'read');

      // Its own updates keep what the token allowed, no more.
      const metadata = rp.clientMetadata();
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
          api_scopes: 'read write',
        }),
      });
      assert.equal(update.status, 200, await update.clone().text());
      const again = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read write' });
      assert.equal(again.scope, 'read');
    },
  );

  await t.test('API scopes named in scope (RFC 7591 §2) are the ones it gets, if its token allows them', async () => {
    const rp = await register(
      idp,
      { redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'client_credentials'], scope: 'openid read' },
      machine,
    );
    assert.equal(rp.clientMetadata().scope, 'openid');
    assert.equal(rp.clientMetadata().api_scopes, 'read');
    const tokens = await oidc.clientCredentialsGrant(rp, { resource: API, scope: 'read' });
    assert.equal(tokens.scope, 'read');

    await assert.rejects(
      register(
        idp,
        { redirect_uris: [], grant_types: ['client_credentials'], response_types: [], scope: 'read write' },
        machine,
      ),
      oauthError('invalid_client_metadata'),
      'write is not among what the token allows',
    );
    await assert.rejects(
      register(idp, { redirect_uris: [CALLBACK], scope: 'openid read' }, plain),
      oauthError('invalid_client_metadata'),
      'a plain token allows no API scope',
    );
  });
});
