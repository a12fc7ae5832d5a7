import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrate } from '../src/db/migrate.ts';
import { createPool, type Pool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createConsentStore } from '../src/oidc/consent-store.ts';
import { createTestDatabase } from './helpers/database.ts';

/**
 * A first-party app's implied approval (oidc/provider.ts loadExistingGrant) is remembered and
 * recorded by one statement that also reads what was remembered before: what the authorization
 * asks for is added when anything of it is new, with its `consent.implied` audit row, and nothing
 * is written (or locked) when all of it is remembered already.
 */

async function database(t: import('node:test').TestContext): Promise<Pool> {
  const db = await createTestDatabase();
  const log = createLogger({ level: 'silent' });
  const pool = createPool({ connectionString: db.url, max: 8, connectTimeoutMs: 5000, log });
  t.after(async () => {
    await pool.end();
    await db.drop();
  });
  await migrate(pool, log);
  return pool;
}

const impliedEvents = async (pool: Pool) =>
  (await pool.query(`select count(*)::int as n from audit_events where event = 'consent.implied'`)).rows[0].n as number;
const rowVersion = async (pool: Pool) =>
  (await pool.query(`select xmin::text as v from remembered_consents where account_id = 'a1' and client_id = 'c1'`))
    .rows[0]?.v as string | undefined;

test('the first implied approval is remembered and recorded; asked again, it is read and nothing is written', async (t) => {
  const pool = await database(t);
  const consents = createConsentStore(pool);
  const asks = { scopes: ['openid', 'profile'], claims: [], resources: { 'https://api.test': ['read'] } };

  const first = await consents.rememberImplied('a1', 'c1', asks);
  assert.equal(first.added, true);
  assert.deepEqual(first.consent, asks);
  assert.deepEqual(await consents.find('a1', 'c1'), asks);
  assert.equal(await impliedEvents(pool), 1);

  const version = await rowVersion(pool);
  const again = await consents.rememberImplied('a1', 'c1', {
    scopes: ['openid'],
    claims: [],
    resources: { 'https://api.test': ['read'] },
  });
  assert.equal(again.added, false);
  assert.deepEqual(again.consent, asks, 'the whole remembered approval, not only what was asked');
  assert.equal(await rowVersion(pool), version, 'the row is not written again');
  assert.equal(await impliedEvents(pool), 1, 'nothing new, nothing recorded');
});

test('what is asked beyond what is remembered is added to it, scope by scope and API by API', async (t) => {
  const pool = await database(t);
  const consents = createConsentStore(pool);
  await consents.rememberImplied('a1', 'c1', {
    scopes: ['openid'],
    claims: ['email'],
    resources: { 'https://api.test': ['read'] },
  });
  const more = await consents.rememberImplied('a1', 'c1', {
    scopes: ['openid', 'profile'],
    claims: [],
    resources: { 'https://api.test': ['write'], 'https://other.test': ['read'] },
  });
  assert.equal(more.added, true);
  assert.deepEqual(more.consent, {
    scopes: ['openid', 'profile'],
    claims: ['email'],
    resources: { 'https://api.test': ['read', 'write'], 'https://other.test': ['read'] },
  });
  assert.equal(await impliedEvents(pool), 2);
  // Another API's scope alone is new too: the check reads each API's own list.
  const other = await consents.rememberImplied('a1', 'c1', {
    scopes: ['openid'],
    claims: [],
    resources: { 'https://other.test': ['write'] },
  });
  assert.equal(other.added, true);
  assert.deepEqual(other.consent.resources['https://other.test'], ['read', 'write']);
});

test('implied approvals of one app arriving at the same moment are all remembered', async (t) => {
  const pool = await database(t);
  const consents = createConsentStore(pool);
  const scopes = ['a', 'b', 'c', 'd', 'e', 'f'];
  const results = await Promise.all(
    scopes.map((scope) =>
      consents.rememberImplied('a1', 'c1', { scopes: ['openid', scope], claims: [], resources: {} }),
    ),
  );
  for (const [i, result] of results.entries()) assert.ok(result.consent.scopes.includes(scopes[i]!));
  assert.deepEqual((await consents.find('a1', 'c1'))?.scopes, ['a', 'b', 'c', 'd', 'e', 'f', 'openid']);
});
