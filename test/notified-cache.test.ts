import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNotifiedCache } from '../src/db/notified-cache.ts';

/**
 * The in-memory copy of clients and APIs kept current by LISTEN/NOTIFY (db/notified-cache.ts), driven
 * here by hand: `trust` is LISTEN succeeding, `invalidate` a notification, `distrust` a lost connection.
 */
function arrange(options: { maxAgeMs?: number; maxEntries?: number } = {}) {
  const rows = new Map<string, { name: string }>([
    ['a', { name: 'A' }],
    ['b', { name: 'B' }],
    ['c', { name: 'C' }],
  ]);
  const loads: string[] = [];
  let clock = 1_000;
  const cache = createNotifiedCache({
    load: async (key: string) => {
      loads.push(key);
      const row = rows.get(key);
      return row ? { ...row } : undefined;
    },
    maxAgeMs: options.maxAgeMs ?? 60_000,
    maxEntries: options.maxEntries,
    now: () => clock,
  });
  return {
    cache,
    rows,
    loads,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

test('until it is trusted (LISTEN has not succeeded), every lookup reads the database', async () => {
  const { cache, loads } = arrange();
  assert.deepEqual(await cache.get('a'), { name: 'A' });
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'a']);
  assert.equal(cache.size, 0);
});

test('once trusted, a row is read once and then served from memory, frozen', async () => {
  const { cache, loads } = arrange();
  cache.trust();
  const first = await cache.get('a');
  const second = await cache.get('a');
  assert.equal(second, first, 'the same object');
  assert.deepEqual(loads, ['a']);
  assert.ok(Object.isFrozen(first), 'no request can change what the others read');
});

test('a notification drops the entry: the next lookup reads the changed row', async () => {
  const { cache, rows, loads } = arrange();
  cache.trust();
  await cache.get('a');
  rows.set('a', { name: 'A renamed' });
  cache.invalidate('a');
  assert.deepEqual(await cache.get('a'), { name: 'A renamed' });
  assert.deepEqual(loads, ['a', 'a']);
});

test('a load that started before a notification does not store the row it read', async () => {
  const { cache, loads } = arrange();
  cache.trust();
  const inFlight = cache.get('a');
  cache.invalidate('a');
  assert.deepEqual(await inFlight, { name: 'A' }, 'the caller still gets its answer');
  assert.equal(cache.size, 0, 'but the possibly old row is not kept');
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'a']);
});

test('misses are not cached: made-up ids cannot fill memory', async () => {
  const { cache, loads } = arrange();
  cache.trust();
  assert.equal(await cache.get('nope'), undefined);
  assert.equal(await cache.get('nope'), undefined);
  assert.deepEqual(loads, ['nope', 'nope']);
  assert.equal(cache.size, 0);
});

test('an entry older than maxAgeMs is read again', async () => {
  const { cache, loads, advance } = arrange({ maxAgeMs: 5_000 });
  cache.trust();
  await cache.get('a');
  advance(4_999);
  await cache.get('a');
  assert.deepEqual(loads, ['a']);
  advance(1);
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'a']);
});

test('maxAgeMs 0 turns the cache off', async () => {
  const { cache, loads } = arrange({ maxAgeMs: 0 });
  cache.trust();
  await cache.get('a');
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'a']);
  assert.equal(cache.size, 0);
});

test('a lost connection empties the cache and reads through until it is trusted again', async () => {
  const { cache, loads } = arrange();
  cache.trust();
  await cache.get('a');
  const inFlight = cache.get('b');
  cache.distrust();
  await inFlight;
  assert.equal(cache.size, 0, 'nothing kept, not even a load that was in flight');
  await cache.get('a');
  assert.equal(cache.size, 0);
  cache.trust();
  await cache.get('a');
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'b', 'a', 'a']);
  assert.equal(cache.size, 1);
});

test('at maxEntries the oldest entry makes room for a new one', async () => {
  const { cache, loads } = arrange({ maxEntries: 2 });
  cache.trust();
  await cache.get('a');
  await cache.get('b');
  await cache.get('c');
  assert.equal(cache.size, 2);
  await cache.get('b');
  await cache.get('c');
  assert.deepEqual(loads, ['a', 'b', 'c'], 'b and c are still in memory');
  await cache.get('a');
  assert.deepEqual(loads, ['a', 'b', 'c', 'a'], 'a was evicted');
});
