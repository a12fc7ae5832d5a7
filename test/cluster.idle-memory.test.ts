import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createIdleMemoryRelease } from '../src/worker-memory.ts';

const MiB = 1024 * 1024;

/** A worker's heap and event loop as the policy sees them, with the collections it asked for. */
function worker() {
  const state = { heap: 60 * MiB, busy: 0, collections: 0 };
  const memory = createIdleMemoryRelease({
    collect: () => {
      state.collections += 1;
      state.heap = 30 * MiB;
    },
    heapBytes: () => state.heap,
    utilization: () => state.busy,
  });
  return { state, memory };
}

test('a worker gives its start-up heap back once it is up', () => {
  const { state, memory } = worker();
  memory.release();
  assert.equal(state.collections, 1);
  assert.equal(state.heap, 30 * MiB);
});

test('after a burst of load, the heap is given back at the first check the worker was idle throughout', () => {
  const { state, memory } = worker();
  memory.release();
  state.heap = 150 * MiB;
  state.busy = 0.6; // the burst is still running
  memory.check();
  assert.equal(state.collections, 1, 'no collection while serving');
  state.busy = 0.002; // a quiet check: only the worker's own timers ran
  memory.check();
  assert.equal(state.collections, 2);
  assert.equal(state.heap, 30 * MiB);
});

test('an idle worker whose heap has not grown is left alone', () => {
  const { state, memory } = worker();
  memory.release();
  state.busy = 0;
  state.heap = 30 * MiB + 15 * MiB; // below the growth worth a pause
  memory.check();
  memory.check();
  assert.equal(state.collections, 1);
});
