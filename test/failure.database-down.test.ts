import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { authorize, CALLBACK, createArrangements, exchange, freePort, PASSWORD } from './helpers/latchkey.ts';
import { openLoginPage, postLogin } from './helpers/security.ts';
import { throwawayCluster } from './helpers/throwaway-postgres.ts';

/** The environment that reproduces a config (the parts this test sets). */
function configEnv(config: ReturnType<typeof loadConfig>): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    DATABASE_URL: config.databaseUrl!,
    LATCHKEY_SECRET_KEY: config.secretKey!,
    LOG_LEVEL: config.logLevel,
    DATABASE_POOL_SIZE: '2',
    DATABASE_CONNECT_TIMEOUT_MS: String(config.databaseConnectTimeoutMs),
    METRICS_PORT: 'off',
  };
}

/** A request that must answer (fail fast), not hang: bounded at 15 s. */
function send(url: string, init: RequestInit = {}) {
  return fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(15_000) });
}

test('with the database down: /readyz 503, requests fail fast with 503 (JSON or page), and it recovers without a restart', async (t) => {
  const cluster = await throwawayCluster();
  t.after(() => cluster.destroy());
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const secretKey = randomBytes(32).toString('base64url');
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: cluster.url,
    LATCHKEY_SECRET_KEY: secretKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_POOL_SIZE: '4',
    DATABASE_CONNECT_TIMEOUT_MS: '2000',
    // This node has no token limit, so /token reaches the engine and its adapter.
    RATE_LIMIT_TOKEN_PER_MINUTE: '0',
    METRICS_PORT: 'off',
  });
  const server = await startServer(config, createLogger({ level: config.logLevel }));
  t.after(() => server.close(1000));
  // A second node with the default limits: its /token limiter meets the outage first.
  const limitedPort = await freePort();
  const limited = await startServer(
    loadConfig({ ...configEnv(config), PORT: String(limitedPort), ISSUER: `http://127.0.0.1:${limitedPort}` }),
    createLogger({ level: config.logLevel }),
  );
  t.after(() => limited.close(1000));
  const idp = { issuer, ...createArrangements(server.database.pool, config) };

  await idp.users.create({ email: 'outage@example.com', name: 'Outage' });
  const registered = await idp.clients.create({
    name: 'Outage App',
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const client = { clientId: registered.clientId, clientSecret: registered.clientSecret! };
  const rp = await idp.rp(client);
  const tokens = await exchange(
    rp,
    await authorize(idp, rp, { email: 'outage@example.com', scope: 'openid offline_access', prompt: 'consent' }),
  );
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
  const refresh = (refreshToken: string) =>
    send(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    });
  const login = await openLoginPage(idp, rp);
  const authorizeUrl = `${issuer}/authorize?${new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: CALLBACK,
    state: 's',
    nonce: 'n',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  })}`;

  await cluster.stop();

  const ready = await send(`${issuer}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { checks: { database: string } }).checks.database, 'down');

  const tokenRes = await refresh(tokens.refresh_token!);
  assert.equal(tokenRes.status, 503, '/token: 503, not 500');
  assert.ok(Number(tokenRes.headers.get('retry-after')) > 0, 'with Retry-After');
  assert.equal(((await tokenRes.json()) as { error: string }).error, 'temporarily_unavailable');

  const userinfo = await send(`${issuer}/userinfo`, {
    headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' },
  });
  assert.equal(userinfo.status, 503, '/userinfo: 503');
  assert.equal(((await userinfo.json()) as { error: string }).error, 'temporarily_unavailable');

  const introspect = await send(`${issuer}/introspect`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ token: tokens.access_token }).toString(),
  });
  assert.equal(introspect.status, 503, '/introspect: 503');

  const page = await send(authorizeUrl, { headers: { accept: 'text/html' } });
  assert.equal(page.status, 503, '/authorize: 503 page');
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /try again/i);

  const interaction = await login.agent.request(`/interaction/${login.uid}`, {
    headers: { accept: 'text/html' },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(interaction.status, 503, 'login page: 503');
  assert.match(await interaction.text(), /try again/i);
  const posted = await postLogin(login, 'outage@example.com', PASSWORD);
  assert.equal(posted.response.status, 503, 'login POST: 503');

  const limitedToken = await send(`http://127.0.0.1:${limitedPort}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
  });
  assert.equal(limitedToken.status, 503, 'the rate limiter turns the outage into 503 too');
  assert.equal(((await limitedToken.json()) as { error: string }).error, 'temporarily_unavailable');

  const discovery = await send(`${issuer}/.well-known/openid-configuration`);
  assert.equal(discovery.status, 200, 'discovery needs no database');
  await discovery.arrayBuffer();

  await cluster.start();
  const deadline = Date.now() + 30_000;
  while ((await send(`${issuer}/readyz`)).status !== 200) {
    assert.ok(Date.now() < deadline, 'ready again within 30 s of the database coming back');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const again = await refresh(tokens.refresh_token!);
  assert.equal(again.status, 200, 'the refresh token from before the outage works');
  const fresh = await exchange(rp, await authorize(idp, rp, { email: 'outage@example.com' }));
  assert.ok(fresh.access_token, 'a new sign-in works');
});
