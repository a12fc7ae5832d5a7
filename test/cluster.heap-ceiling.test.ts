import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHeapCeiling } from '../src/worker-memory.ts';

const MiB = 1024 * 1024;

/** A worker's heap in use as the ceiling sees it; a collection leaves what is really live. */
function worker(live: number) {
  const state = { used: 40 * MiB, live, collections: 0 };
  const ceiling = createHeapCeiling({
    collect: () => {
      state.collections += 1;
      state.used = state.live;
    },
    usedBytes: () => state.used,
  });
  return { state, ceiling };
}

test('a heap used as under any load of the bench is left to V8', () => {
  const { state, ceiling } = worker(25 * MiB);
  for (const used of [30, 45, 60, 75]) {
    state.used = used * MiB;
    ceiling.check();
  }
  assert.equal(state.collections, 0);
});

test('a heap that grew past the ceiling on dead data is collected once, back to what is live', () => {
  const { state, ceiling } = worker(25 * MiB);
  state.used = 85 * MiB;
  ceiling.check();
  assert.equal(state.collections, 1);
  assert.equal(state.used, 25 * MiB);
  state.used = 70 * MiB;
  ceiling.check();
  assert.equal(state.collections, 1, 'below the ceiling again: V8 collects on its own schedule');
});

test('a worker whose live data is truly large is not collected over and over: its ceiling becomes twice it', () => {
  const { state, ceiling } = worker(70 * MiB);
  state.used = 85 * MiB;
  ceiling.check();
  assert.equal(state.collections, 1);
  state.used = 130 * MiB;
  ceiling.check();
  assert.equal(state.collections, 1, 'under twice the live data');
  state.used = 145 * MiB;
  ceiling.check();
  assert.equal(state.collections, 2);
  state.used = 100 * MiB;
  ceiling.check();
  assert.equal(state.collections, 2, 'seen above twice the first ceiling: it stays raised');
  state.live = 20 * MiB;
  state.used = 20 * MiB; // V8 collected on its own: the live data is small again
  ceiling.check();
  state.used = 85 * MiB;
  ceiling.check();
  assert.equal(state.collections, 3, 'the first ceiling holds again');
});
