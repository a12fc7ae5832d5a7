import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Context } from 'koa';
import { migrate } from '../src/db/migrate.ts';
import { createPool, type Pool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createRateLimits } from '../src/security/rate-limits.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

/**
 * The token limit's blocks (src/security/rate-limits.ts): a node takes points from the shared
 * counter in PostgreSQL in blocks of 1/100 of the limit and spends them from memory. Driven
 * through the middleware on a real database, without an HTTP server; each test uses its own address.
 */
const log = createLogger({ level: 'silent' });
let database: TestDatabase;
let pool: Pool;
before(async () => {
  database = await createTestDatabase();
  pool = createPool({ connectionString: database.url, max: 10, connectTimeoutMs: 5_000, log });
  await migrate(pool, log);
});
after(async () => {
  await pool?.end();
  await database?.drop();
});

/** One POST /token from `ip` through a node's limiter: the status it would answer (200: passed on). */
async function tokenRequest(limits: ReturnType<typeof createRateLimits>, ip: string) {
  const headers: Record<string, string> = {};
  const ctx = {
    method: 'POST',
    path: '/token',
    ip,
    state: { log, route: 'token' },
    status: 404,
    body: undefined as unknown,
    set: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
  };
  await limits.tokenRequestLimit.check(ctx as unknown as Context, async () => {
    ctx.status = 200;
  });
  return { status: ctx.status, retryAfter: headers['retry-after'] };
}

const node = (tokenPerMinute: number) =>
  createRateLimits({ pool, settings: { loginPerMinute: 0, tokenPerMinute }, log, outage: { unavailable() {} } });
/** The points the shared counter holds for the address. */
async function counted(ip: string) {
  const { rows } = await pool.query<{ points: number }>('select points from rate_limits where key = $1', [
    `token:${ip}`,
  ]);
  return rows[0]?.points ?? 0;
}
async function sequence(limits: ReturnType<typeof createRateLimits>, ip: string, n: number) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 1) statuses.push((await tokenRequest(limits, ip)).status);
  return statuses;
}
const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

test('one after another, exactly the limit passes; the counter holds what was served', async () => {
  const limits = node(500); // blocks of 5
  const statuses = await sequence(limits, '198.51.100.1', 510);
  assert.equal(count(statuses, 200), 500);
  assert.deepEqual(statuses.slice(500), Array(10).fill(429));
  assert.equal(await counted('198.51.100.1'), 500);
  const refused = await tokenRequest(limits, '198.51.100.1');
  assert.ok(Number(refused.retryAfter) >= 1 && Number(refused.retryAfter) <= 60, `Retry-After ${refused.retryAfter}`);
});

// After a cut block the library blocks the address in memory and refuses the next refill with
// consumedPoints 0: that is a refusal, not a whole new block.
test('near the limit the block is cut to what is left and the surplus is given back', async () => {
  const limits = node(512); // blocks of 5: 102 whole blocks, then 2 points left
  const statuses = await sequence(limits, '198.51.100.2', 520);
  assert.equal(count(statuses, 200), 512);
  assert.equal(await counted('198.51.100.2'), 512, 'the 3 points of the cut block went back');
});

test('a refused address is refused from memory: no further database writes', async () => {
  const limits = node(200); // blocks of 2
  await sequence(limits, '198.51.100.3', 201);
  const before = await counted('198.51.100.3');
  assert.deepEqual(await sequence(limits, '198.51.100.3', 20), Array(20).fill(429));
  assert.equal(await counted('198.51.100.3'), before);
});

test('a limit under 100 has blocks of one point: every request is counted in the database', async () => {
  const limits = node(3);
  assert.deepEqual(await sequence(limits, '198.51.100.4', 2), [200, 200]);
  assert.equal(await counted('198.51.100.4'), 2);
  assert.deepEqual(await sequence(limits, '198.51.100.4', 2), [200, 429]);
});

test('simultaneous requests on two nodes never pass more than the limit', async () => {
  const nodes = [node(300), node(300)]; // blocks of 3
  const results = await Promise.all(Array.from({ length: 400 }, (_, i) => tokenRequest(nodes[i % 2]!, '198.51.100.5')));
  assert.ok(
    count(
      results.map((r) => r.status),
      200,
    ) <= 300,
  );
  assert.ok(results.every((r) => r.status === 200 || r.status === 429));
});

// One refill in flight per address, its block handed out to the requests waiting for it: no block
// is counted in the database and left unserved.
test('after a burst, the points a node counted are served: it bites early by less than one block', async () => {
  const limits = node(300); // blocks of 3
  const burst = await Promise.all(Array.from({ length: 400 }, () => tokenRequest(limits, '198.51.100.8')));
  const then = await sequence(limits, '198.51.100.8', 100);
  const passed =
    count(
      burst.map((r) => r.status),
      200,
    ) + count(then, 200);
  assert.equal(await counted('198.51.100.8'), 300);
  assert.ok(passed > 300 - 3, `${passed} of the 300 counted were served`);
});

test('addresses are counted apart', async () => {
  const limits = node(100);
  await sequence(limits, '198.51.100.6', 101);
  assert.equal((await tokenRequest(limits, '198.51.100.7')).status, 200);
});

test('a burst on two nodes: the limit holds, and each node bites early by less than one block', async () => {
  const nodes = [node(300), node(300)]; // blocks of 3
  const burst = await Promise.all(Array.from({ length: 400 }, (_, i) => tokenRequest(nodes[i % 2]!, '198.51.100.9')));
  const then = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenRequest(nodes[i % 2]!, '198.51.100.9')));
  const passed = count(
    [...burst, ...then].map((r) => r.status),
    200,
  );
  assert.equal(await counted('198.51.100.9'), 300);
  assert.ok(passed <= 300 && passed > 300 - 2 * 3, `${passed} passed`);
});
