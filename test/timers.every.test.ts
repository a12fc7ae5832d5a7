import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { every } from '../src/timers.ts';
import { runNode } from './helpers/processes.ts';

/** The loop behind the key watch and the janitor (src/timers.ts): one run at a time, stoppable. */

/** A task whose runs finish when the test says so; `active` counts runs in progress. */
function controlledTask() {
  const runs: Array<() => void> = [];
  let active = 0;
  let maxActive = 0;
  const task = () =>
    new Promise<void>((resolve) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      runs.push(() => {
        active -= 1;
        resolve();
      });
    });
  return { task, runs, maxActive: () => maxActive, finish: (i: number) => runs[i]!() };
}

const settle = () => sleep(5);
/** onError for tasks that must not fail: the rethrown error fails the test file. */
const unexpected = (err: unknown) => assert.fail(`the task failed: ${String(err)}`);

/** Waits until `done()` holds, for at most 5 s (timers fire late on a busy machine, never early). */
async function until(done: () => boolean) {
  const deadline = Date.now() + 5_000;
  while (!done() && Date.now() < deadline) await sleep(5);
  assert.ok(done(), 'in time');
}

test('the task runs every ms, the first time one interval after the start', async (t) => {
  const started = Date.now();
  const times: number[] = [];
  const loop = every(
    40,
    async () => {
      times.push(Date.now() - started);
    },
    unexpected,
  );
  t.after(() => loop.stop());
  await sleep(20);
  assert.equal(times.length, 0, 'not at once');
  await until(() => times.length >= 3);
  for (const [i, time] of times.entries()) {
    assert.ok(time >= 40 * (i + 1) - 2, `run ${i + 1} at ${time} ms, not before ${40 * (i + 1)}`);
  }
});

test('now() runs the task at once', async (t) => {
  let count = 0;
  const loop = every(
    60_000,
    async () => {
      count += 1;
    },
    unexpected,
  );
  t.after(() => loop.stop());
  loop.now();
  await settle();
  assert.equal(count, 1);
});

test('now() during a run asks for one more run right after it, never two at once', async (t) => {
  const { task, runs, maxActive, finish } = controlledTask();
  const loop = every(60_000, task, unexpected);
  t.after(async () => {
    for (const run of runs) run();
    await loop.stop();
  });
  loop.now();
  loop.now();
  loop.now();
  await settle();
  assert.equal(runs.length, 1, 'the extra calls wait for the run in progress');
  finish(0);
  await settle();
  assert.equal(runs.length, 2, 'then one more run, for all of them');
  finish(1);
  await settle();
  assert.equal(runs.length, 2);
  assert.equal(maxActive(), 1);
});

test('a failed run goes to onError and the loop goes on', async (t) => {
  const errors: unknown[] = [];
  let count = 0;
  const loop = every(
    20,
    async () => {
      count += 1;
      throw new Error(`run ${count} failed`);
    },
    (err) => errors.push(err),
  );
  t.after(() => loop.stop());
  await until(() => errors.length >= 2);
  assert.equal(errors.length, count);
  assert.match(String(errors[0]), /run 1 failed/);
});

test('stop() waits for the run in progress, and nothing runs after it', async () => {
  const { task, runs, finish } = controlledTask();
  const loop = every(10, task, unexpected);
  loop.now();
  let stopped = false;
  const stopping = loop.stop().then(() => {
    stopped = true;
  });
  await sleep(30);
  assert.equal(stopped, false, 'the run in progress is awaited');
  finish(0);
  await stopping;
  loop.now();
  await sleep(40);
  assert.equal(runs.length, 1, 'neither now() nor the interval runs it again');
});

test('the loop does not keep the process alive', async () => {
  const script =
    "const { every } = await import('./src/timers.ts'); every(60_000, async () => {}, console.error); console.log('started');";
  const run = await runNode(['--import', 'tsx', '--input-type=module', '--eval', script], {}, { timeoutMs: 20_000 });
  assert.equal(run.stdout.trim(), 'started');
  assert.equal(run.signal, null, 'it exited by itself, not by the timeout');
  assert.equal(run.code, 0, run.stderr);
});
