import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as oidc from 'openid-client';
import { CALLBACK, startLatchkey } from './helpers/latchkey.ts';
import { Browser, passLatchkeyPages } from './helpers/web-browser.ts';

const run = promisify(execFile);

/** Debian's pg_dump (its wrapper picks the cluster's version); CI installs the same package. */
const PG_DUMP = '/usr/bin/pg_dump';

test('a pg_dump taken after a full sign-in holds no password, client secret, code, token or session cookie', async (t) => {
  const idp = await startLatchkey(t);
  const password = `dump-test-${randomBytes(12).toString('hex')}`;
  const user = await idp.users.create({ password });
  const client = await idp.clients.create({ type: 'confidential' });
  const rp = await idp.rp(client, 'basic');

  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const browser = new Browser();
  const start = await browser.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    }),
  );
  const atClient = (target: URL) => target.href.startsWith(CALLBACK);
  const { page } = await passLatchkeyPages(browser, idp.issuer, start, {
    email: user.email,
    password,
    stopAt: atClient,
  });
  assert.ok(page.location, 'the browser was sent back to the client');
  const code = page.location.searchParams.get('code');
  assert.ok(code);
  const tokens = await oidc.authorizationCodeGrant(rp, page.location, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  assert.ok(tokens.refresh_token, 'offline_access with prompt=consent gives a refresh token');
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token);
  assert.ok(
    refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
    'the refresh token was rotated',
  );
  const session = browser.cookie(new URL(idp.issuer).hostname, '_session');
  assert.ok(session, 'the browser holds a Latchkey session cookie');

  const { stdout: dump } = await run(PG_DUMP, ['--no-owner', idp.database.url], {
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
  });
  // The dump is not vacuous: the account, the client and the sign-in's rows are in it.
  assert.ok(dump.includes(user.email));
  assert.ok(dump.includes(client.clientId));
  assert.match(dump, /RefreshToken/);

  const secrets: Record<string, string> = {
    'the password': password,
    'the client secret': client.clientSecret!,
    'the authorization code': code,
    'the PKCE code verifier': codeVerifier,
    'the access token': tokens.access_token,
    'the refresh token': tokens.refresh_token,
    'the refreshed access token': refreshed.access_token,
    'the rotated refresh token': refreshed.refresh_token,
    'the session cookie': session,
    LATCHKEY_SECRET_KEY: idp.config.secretKey!,
  };
  for (const [index, value] of browser.cookieValues(new URL(idp.issuer).hostname).entries())
    secrets[`Latchkey cookie #${index + 1}`] = value;
  for (const [what, value] of Object.entries(secrets)) {
    assert.ok(value.length >= 16, `${what} is long enough to search for`);
    // Never print the value itself: a failure names what leaked, not the secret.
    assert.equal(dump.includes(value), false, `${what} is in the dump`);
  }
});
