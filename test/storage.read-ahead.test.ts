import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import * as oidc from 'openid-client';
import { createAccountStore } from '../src/accounts/store.ts';
import {
  authorize,
  CALLBACK,
  exchange,
  type Latchkey,
  PASSWORD,
  startLatchkey,
  statementName,
  statementsDuring,
} from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';

/**
 * Within one request a code or token is read with its grant and its session in one statement,
 * and an opaque token value once for every kind of opaque token (oidc/read-ahead.ts). What is read
 * ahead never outlives the request, and a write drops it: a revocation is seen at once. A token
 * request's saves are written together when the engine is done, before the response goes out.
 */

async function signedIn(t: TestContext, scope: string) {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({
    type: 'confidential',
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const rp = await idp.rp(client);
  const flow = await authorize(idp, rp, {
    email: user.email,
    scope,
    ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}),
  });
  return { idp, user, client, rp, flow };
}

test('a code exchange reads the code, its grant, its session and the account in one statement', async (t) => {
  const { idp, rp, flow } = await signedIn(t, 'openid profile');
  let tokens: Awaited<ReturnType<typeof exchange>> | undefined;
  const statements = await statementsDuring(idp, async () => {
    tokens = await exchange(rp, flow);
  });
  assert.ok(tokens?.id_token && tokens.access_token);
  assert.deepEqual(statements, [
    'oidc_payloads.find_tokens',
    'oidc_payloads.consume_many',
    'oidc_payloads.upsert_many',
  ]);
});

test('a code exchange with offline_access writes its refresh token and access token in one statement', async (t) => {
  const { idp, rp, flow } = await signedIn(t, 'openid offline_access');
  let tokens: Awaited<ReturnType<typeof exchange>> | undefined;
  const statements = await statementsDuring(idp, async () => {
    tokens = await exchange(rp, flow);
  });
  assert.ok(tokens?.refresh_token && tokens.access_token);
  assert.deepEqual(statements, [
    'oidc_payloads.find_tokens',
    'oidc_payloads.consume_many',
    'oidc_payloads.upsert_refresh_tokens_many',
  ]);
  assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, true);
  assert.ok((await oidc.refreshTokenGrant(rp, tokens.refresh_token)).access_token);
});

/** Makes the server's saves of codes and tokens fail with `error` until the test ends. */
function failSaves(t: TestContext, idp: Latchkey, error: Error) {
  const pool = idp.server.database.pool;
  const query = pool.query;
  pool.query = ((config: unknown, values?: unknown) => {
    if (statementName(config)?.startsWith('oidc_payloads.upsert')) return Promise.reject(error);
    return (query as (config: unknown, values?: unknown) => unknown).call(pool, config, values);
  }) as typeof pool.query;
  t.after(() => {
    pool.query = query;
  });
}

test('tokens go out only once they are stored: a token request whose saves cannot be written gets a 503 and no tokens', async (t) => {
  const { idp, rp, flow } = await signedIn(t, 'openid offline_access');
  failSaves(t, idp, Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
  // The engine has issued the tokens when their write fails: the client must not receive them.
  const refused = await exchange(rp, flow).then(
    () => assert.fail('tokens were issued'),
    (err: { cause?: unknown }) => err.cause,
  );
  assert.ok(refused instanceof Response);
  assert.equal(refused.status, 503);
  const body = (await refused.json()) as Record<string, unknown>;
  assert.equal(body.error, 'temporarily_unavailable');
  assert.equal(body.access_token, undefined);
  // Nor do the metrics count them as issued.
  const metrics = await (await fetch(`http://127.0.0.1:${idp.server.metricsPort}/metrics`)).text();
  assert.match(metrics, /# TYPE latchkey_tokens_issued_total counter/);
  assert.doesNotMatch(metrics, /^latchkey_tokens_issued_total\{/m);
});

test('a token request whose saves fail for another reason gets RFC 6749 JSON, whatever it accepts', async (t) => {
  const { idp, client, flow } = await signedIn(t, 'openid offline_access');
  failSaves(t, idp, Object.assign(new Error('deadlock detected'), { code: '40P01' }));
  const response = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: {
      accept: '*/*',
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: flow.callback.searchParams.get('code')!,
      redirect_uri: CALLBACK,
      code_verifier: flow.codeVerifier,
    }),
  });
  assert.equal(response.status, 500);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(body.error, 'server_error');
  assert.equal(body.access_token, undefined);
});

test('introspection is one statement: the token under every opaque kind, with its grant', async (t) => {
  const { idp, rp, flow } = await signedIn(t, 'openid profile');
  const tokens = await exchange(rp, flow);
  let introspected: oidc.IntrospectionResponse | undefined;
  const statements = await statementsDuring(idp, async () => {
    introspected = await oidc.tokenIntrospection(rp, tokens.access_token, { token_type_hint: 'access_token' });
  });
  assert.equal(introspected?.active, true);
  assert.deepEqual(statements, ['oidc_payloads.find_opaque_tokens']);
});

test('userinfo is one statement: the token with its grant, its session and the account', async (t) => {
  const { idp, user, rp, flow } = await signedIn(t, 'openid profile email');
  const tokens = await exchange(rp, flow);
  let claims: oidc.UserInfoResponse | undefined;
  const statements = await statementsDuring(idp, async () => {
    claims = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
  });
  assert.equal(claims?.email, user.email);
  assert.deepEqual(statements, ['oidc_payloads.find_opaque_tokens']);
});

test('a refresh reads the token and its grant once, writes the new refresh and access tokens in one statement, and the next request reads them', async (t) => {
  const { idp, rp, flow } = await signedIn(t, 'openid offline_access');
  const first = await exchange(rp, flow);
  let second: oidc.TokenEndpointResponse | undefined;
  const statements = await statementsDuring(idp, async () => {
    second = await oidc.refreshTokenGrant(rp, first.refresh_token!);
  });
  assert.deepEqual(statements, [
    'oidc_payloads.find_opaque_tokens',
    'oidc_payloads.consume_many',
    'oidc_payloads.upsert_refresh_tokens_many',
  ]);
  assert.equal((await oidc.tokenIntrospection(rp, second!.access_token)).active, true);
  const third = await oidc.refreshTokenGrant(rp, second!.refresh_token!);
  assert.ok(third.access_token);
  // The rotated token is consumed: presenting it again is refused, and the grant goes with it.
  await assert.rejects(
    oidc.refreshTokenGrant(rp, first.refresh_token!),
    (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
  );
  assert.equal((await oidc.tokenIntrospection(rp, third.access_token)).active, false);
});

test('what one request read ahead is not what the next one sees: a revoked token is inactive at once', async (t) => {
  const { rp, flow } = await signedIn(t, 'openid profile');
  const tokens = await exchange(rp, flow);
  assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, true);
  await oidc.tokenRevocation(rp, tokens.access_token);
  assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, false);
  await assert.rejects(oidc.fetchUserInfo(rp, tokens.access_token, oidc.skipSubjectCheck));
});

test('the account read with a token is the account as it is now: disabled, its tokens get nothing at once', async (t) => {
  const { idp, user, rp, flow } = await signedIn(t, 'openid profile offline_access');
  const tokens = await exchange(rp, flow);
  assert.equal((await oidc.fetchUserInfo(rp, tokens.access_token, user.id)).sub, user.id);

  await createAccountStore(idp.server.database.pool).setDisabled(user.id, true);

  await assert.rejects(oidc.fetchUserInfo(rp, tokens.access_token, user.id));
  await assert.rejects(
    oidc.refreshTokenGrant(rp, tokens.refresh_token!),
    (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
  );
});

test('the resume reads the interaction with the account it signed in, in one statement, as the account is now', async (t) => {
  const idp = await startLatchkey(t);
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client);
  const resumeAfterPassword = async (email: string) => {
    const page = await openLoginPage(idp, rp);
    const location = (await postLogin(page, email, PASSWORD)).response.headers.get('location');
    assert.ok(location, 'the password is right: on to the resume');
    return { page, resume: new URL(location, idp.issuer) };
  };

  const user = await idp.users.create();
  const signingIn = await resumeAfterPassword(user.email);
  let response: Response | undefined;
  const statements = await statementsDuring(idp, async () => {
    response = await signingIn.page.agent.request(signingIn.resume);
  });
  assert.ok(new URL(response!.headers.get('location')!).searchParams.get('code'));
  assert.equal(statements[0], 'oidc_payloads.find_interaction');
  assert.equal(statements.includes('accounts.find_by_id'), false, 'findAccount uses the account read with it');

  // Disabled after its password was checked: the resume, reading the account then, issues no
  // code and sends the browser back to sign in.
  const disabled = await idp.users.create();
  const late = await resumeAfterPassword(disabled.email);
  await createAccountStore(idp.server.database.pool).setDisabled(disabled.id, true);
  const refused = await late.page.agent.request(late.resume);
  const next = refused.headers.get('location') ?? '';
  assert.match(next, /^\/interaction\/[\w-]+$/, 'a new sign-in, not the callback');
});
