import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import pg from 'pg';
import { createApiResourceStore } from '../src/oidc/api-resource-store.ts';
import { createApiResources } from '../src/oidc/api-resources.ts';
import { createKeyStore } from '../src/oidc/key-store.ts';
import { rotateKeys } from '../src/oidc/keys.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { authorize, exchange, type Latchkey, startLatchkey } from './helpers/latchkey.ts';
import { runNode } from './helpers/processes.ts';

const API_ES256 = 'https://es256.rotation.test';
const API_RS256 = 'https://rs256.rotation.test';

async function publishedKids(idp: Latchkey): Promise<string[]> {
  const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as JSONWebKeySet;
  return jwks.keys.map((key) => key.kid!);
}

/** Waits (bounded) until the server publishes every kid in `kids`: it has reloaded its keys. */
async function waitForKids(idp: Latchkey, kids: string[]) {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
    const published = await publishedKids(idp);
    if (kids.every((kid) => published.includes(kid))) return;
  }
  assert.fail(`the server did not publish ${kids.join(', ')} within 10 s`);
}

test('JWT access tokens keep validating while `latchkey keys rotate` runs; the rotated-out keys stay in /jwks', async (t) => {
  const idp = await startLatchkey(t, { KEY_RELOAD_INTERVAL_MS: '200' });
  const cli = { DATABASE_URL: idp.database.url, LATCHKEY_SECRET_KEY: idp.config.secretKey! };
  const apis = createApiResources(createApiResourceStore(idp.server.database.pool));
  for (const [identifier, signingAlg] of [
    [API_ES256, 'ES256'],
    [API_RS256, 'RS256'],
  ] as const) {
    assert.ok((await apis.create({ identifier, scopes: ['read'], signingAlg })).ok);
  }
  const client = await idp.clients.create({ grantTypes: ['client_credentials'], redirectUris: [] });
  const rp = await idp.rp(client);
  const keys = createKeyStore(idp.server.database.pool);
  const oldActive = (await keys.listAll()).filter((key) => key.state === 'active').map((key) => key.kid);
  assert.equal(oldActive.length, 2);
  // Two verifiers: one refetching /jwks often, one that fetched it once before the rotation (an API
  // with a long cache). The second keeps working only because the new key was published in advance.
  const fresh = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`), { cacheMaxAge: 500, cooldownDuration: 0 });
  const stale = createLocalJWKSet((await (await fetch(`${idp.issuer}/jwks`)).json()) as JSONWebKeySet);

  let rotation: { rotated: Array<{ alg: string; activated: string; next: string }> } | undefined;
  const rotating = runNode(['bin/latchkey.js', 'keys', 'rotate', '--json'], cli).then((run) => {
    assert.equal(run.code, 0, run.stderr);
    rotation = JSON.parse(run.stdout) as NonNullable<typeof rotation>;
  });
  const failures: string[] = [];
  const signedBy = new Map<string, number>();
  const newKeysSeen = () => rotation?.rotated.every((r) => signedBy.has(r.activated));
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && !newKeysSeen(); ) {
    for (const resource of [API_ES256, API_RS256]) {
      try {
        const { access_token: token } = await oidc.clientCredentialsGrant(rp, { resource, scope: 'read' });
        const options = { issuer: idp.issuer, audience: resource };
        await jwtVerify(token, fresh, options);
        await jwtVerify(token, stale, options);
        const { kid } = decodeProtectedHeader(token);
        signedBy.set(kid!, (signedBy.get(kid!) ?? 0) + 1);
      } catch (err) {
        failures.push(`${resource}: ${(err as Error).message}`);
      }
    }
  }
  await rotating;

  assert.deepEqual(failures, []);
  assert.ok(rotation && newKeysSeen(), 'tokens signed by the new keys were seen');
  for (const kid of oldActive) assert.ok(signedBy.has(kid), `tokens signed by the old key ${kid} before the reload`);
  const published = await publishedKids(idp);
  for (const { activated, next } of rotation.rotated) {
    assert.ok(published.includes(activated) && published.includes(next), 'the new active and next keys are published');
  }
  const after = await keys.listAll();
  for (const kid of oldActive) {
    const row = after.find((key) => key.kid === kid)!;
    assert.equal(row.state, 'retired');
    assert.ok(row.unpublish_after && row.unpublish_after > new Date(), 'published until its tokens expire');
    assert.ok(published.includes(kid), `retired key ${kid} still in /jwks`);
  }
});

test('a session from before a key rotation still signs the user in after the reload', async (t) => {
  const idp = await startLatchkey(t, { KEY_RELOAD_INTERVAL_MS: '200' });
  const user = await idp.users.create();
  const rp = await idp.rp(await idp.clients.create());
  const first = await authorize(idp, rp, { email: user.email });
  await exchange(rp, first);
  assert.ok(first.sawLogin);

  const rotated = await rotateKeys(idp.server.database.pool, createSecretBox(idp.config.secretKey!), {
    publishRetiredSeconds: 3600,
    cookieGraceSeconds: 3600,
  });
  await waitForKids(
    idp,
    rotated.map((r) => r.next),
  );

  // Same browser: its session cookie was signed with the cookie key that just stopped signing.
  const second = await authorize(idp, rp, { email: user.email, agent: first.agent });
  assert.equal(second.sawLogin, false, 'still signed in');
  assert.equal(second.sawConsent, false);
  const tokens = await exchange(rp, second);
  const rs256 = rotated.find((r) => r.alg === 'RS256')!;
  assert.equal(decodeProtectedHeader(tokens.id_token!).kid, rs256.activated, 'the ID token is signed by the new key');
});

test('a running server picks up a rotation at once, notified by PostgreSQL, not only at its next poll', async (t) => {
  const idp = await startLatchkey(t, { KEY_RELOAD_INTERVAL_MS: '30000' });
  const rotated = await rotateKeys(idp.server.database.pool, createSecretBox(idp.config.secretKey!), {
    publishRetiredSeconds: 3600,
    cookieGraceSeconds: 3600,
  });
  // Well before the 30 s poll: only the notification can have triggered the reload.
  await waitForKids(
    idp,
    rotated.map((r) => r.next),
  );
});

test('servers rotate keys on schedule, and of two nodes finding the rotation due only one rotates', async (t) => {
  const env = { KEY_RELOAD_INTERVAL_MS: '150', KEY_ROTATION_DAYS: '30' };
  const a = await startLatchkey(t, env);
  const b = await startLatchkey(
    t,
    { ...env, LATCHKEY_SECRET_KEY: a.config.secretKey!, ISSUER: a.issuer },
    { database: a.database },
  );
  const keys = createKeyStore(a.server.database.pool);
  const activeBefore = (await keys.listAll()).filter((key) => key.state === 'active').map((key) => key.kid);

  // Make the active keys 31 days old, as if the servers had run for a month.
  const admin = new pg.Client({ connectionString: a.database.url });
  await admin.connect();
  try {
    await admin.query(`update signing_keys set activated_at = now() - interval '31 days' where state = 'active'`);
  } finally {
    await admin.end();
  }

  let rows = await keys.listAll();
  for (
    const deadline = Date.now() + 10_000;
    Date.now() < deadline && rows.some((key) => activeBefore.includes(key.kid) && key.state === 'active');
    await sleep(100)
  ) {
    rows = await keys.listAll();
  }
  // Let both nodes run several more checks: a second rotation would show up as more retired keys.
  await sleep(1000);
  rows = await keys.listAll();
  for (const alg of ['ES256', 'RS256']) {
    const states = rows
      .filter((key) => key.alg === alg)
      .map((key) => key.state)
      .sort();
    assert.deepEqual(states, ['active', 'next', 'retired'], `${alg}: rotated exactly once`);
  }
  for (const kid of activeBefore) assert.equal(rows.find((key) => key.kid === kid)?.state, 'retired');
  const newActive = rows.filter((key) => key.state === 'active').map((key) => key.kid);
  await waitForKids(a, newActive);
  await waitForKids(b, newActive);
});
