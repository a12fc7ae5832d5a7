import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import type { UserAgent } from './helpers/browser.ts';
import { freePort, PASSWORD, startLatchkey } from './helpers/latchkey.ts';
import { loginAlert, openLoginPage, postLogin } from './helpers/security.ts';

test('password attempts over RATE_LIMIT_LOGIN_PER_MINUTE from one address get 429 with Retry-After and a clear page', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '3' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create());
  const page = await openLoginPage(idp, rp);

  for (let attempt = 1; attempt <= 3; attempt += 1) {
    assert.equal(
      (await postLogin(page, user.email, 'wrong password here')).response.status,
      401,
      `attempt ${attempt} is checked`,
    );
  }
  const limited = await postLogin(page, user.email, PASSWORD);
  assert.equal(
    limited.response.status,
    429,
    'the fourth attempt in the minute is refused, even with the right password',
  );
  const retryAfter = Number(limited.response.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After is the rest of the window (${retryAfter})`);
  assert.match(limited.response.headers.get('content-type') ?? '', /text\/html/);
  assert.match(loginAlert(limited.body) ?? '', /Too many sign-in attempts/);
  assert.ok(limited.body.includes('name="password"'), 'the login form is shown again');
});

test('the login limit is shared by every node on the database', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '2' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create());

  const port = await freePort();
  const second = await startServer(
    loadConfig({
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: idp.issuer,
      DATABASE_URL: idp.config.databaseUrl,
      LATCHKEY_SECRET_KEY: idp.config.secretKey,
      LOG_LEVEL: 'silent',
      DATABASE_POOL_SIZE: '2',
      RATE_LIMIT_LOGIN_PER_MINUTE: '2',
      METRICS_PORT: 'off',
    }),
    createLogger({ level: 'silent' }),
  );
  try {
    const page = await openLoginPage(idp, rp);
    assert.equal((await postLogin(page, user.email, 'wrong password here')).response.status, 401);
    assert.equal((await postLogin(page, user.email, 'wrong password here')).response.status, 401);
    // Same interaction and cookies, other node: the engine state is in PostgreSQL, so is the count.
    const limited = await fetch(new URL(page.loginUrl.pathname, second.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: interactionCookies(page.agent) },
      body: new URLSearchParams({ csrf: page.csrf, email: user.email, password: PASSWORD }).toString(),
      redirect: 'manual',
    });
    assert.equal(limited.status, 429, "the second node counts the first node's attempts");
  } finally {
    await second.close(1000);
  }
});

test('behind a proxy the limit counts the address the proxy saw, not one the client wrote into X-Forwarded-For', async (t) => {
  const idp = await startLatchkey(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '2', TRUST_PROXY: 'true' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create());
  const page = await openLoginPage(idp, rp);
  const attempt = (forwardedFor: string) =>
    page.agent
      .request(page.loginUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
        body: new URLSearchParams({ csrf: page.csrf, email: user.email, password: 'wrong password here' }).toString(),
      })
      .then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      });
  // The client writes a fresh address each time; our proxy appends the one it saw (203.0.113.7).
  assert.equal(await attempt('198.51.100.1, 203.0.113.7'), 401);
  assert.equal(await attempt('198.51.100.2, 203.0.113.7'), 401);
  assert.equal(await attempt('198.51.100.3, 203.0.113.7'), 429, 'a forged address does not reset the count');
  assert.equal(await attempt('203.0.113.8'), 401, 'another client behind the same proxy has its own count');
});

test('an office signing in together (50 sign-ins in a minute from one address) is not limited by the defaults', async (t) => {
  const idp = await startLatchkey(t);
  assert.equal(idp.config.rateLimit.loginPerMinute, 60, 'default');
  const users = [await idp.users.create(), await idp.users.create(), await idp.users.create()];
  const rp = await idp.rp(await idp.clients.create());
  const statuses: number[] = [];
  for (let i = 0; i < 50; i += 1) {
    const page = await openLoginPage(idp, rp);
    statuses.push((await postLogin(page, users[i % users.length]!.email, PASSWORD)).response.status);
  }
  assert.deepEqual(
    statuses.filter((status) => status !== 303),
    [],
    'every sign-in went through',
  );
});

/** The cookie header the user agent would send to the interaction path. */
function interactionCookies(agent: UserAgent): string {
  const jar = agent.cookies();
  return jar
    .filter((c) => c.path.startsWith('/interaction'))
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}
