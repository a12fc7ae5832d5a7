import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHeapCeiling } from '../src/worker-memory.ts';

const MiB = 1024 * 1024;

/**
 * A worker's heap as the ceiling sees it: `seen(n)` is a check while n MiB are in use, and answers
 * how many collections the ceiling has made; a collection leaves what is really live.
 */
function worker(liveMiB: number) {
  const state = { used: 40 * MiB, live: liveMiB * MiB, collections: 0 };
  const ceiling = createHeapCeiling({
    collect: () => {
      state.collections += 1;
      state.used = state.live;
    },
    usedBytes: () => state.used,
  });
  const seen = (usedMiB: number) => {
    state.used = usedMiB * MiB;
    ceiling.check();
    return state.collections;
  };
  return { state, seen };
}

test('a heap used as under any load of the bench is left to V8', () => {
  const { seen } = worker(25);
  for (const used of [30, 45, 60, 75]) assert.equal(seen(used), 0);
});

test('a heap that grew past the ceiling on dead data is collected once, back to what is live', () => {
  const { state, seen } = worker(25);
  assert.equal(seen(85), 1);
  assert.equal(state.used, 25 * MiB);
  assert.equal(seen(70), 1, 'below the ceiling again: V8 collects on its own schedule');
});

test('a worker whose live data is truly large is not collected over and over: its ceiling becomes twice it', () => {
  const { state, seen } = worker(70);
  assert.equal(seen(85), 1);
  assert.equal(seen(130), 1, 'under twice the live data');
  assert.equal(seen(145), 2);
  assert.equal(seen(100), 2, 'seen above twice the first ceiling: it stays raised');
  state.live = 20 * MiB;
  assert.equal(seen(20), 2, 'V8 collected on its own: the live data is small again');
  assert.equal(seen(85), 3, 'the first ceiling holds again');
});
