import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';

const MiB = 1024 * 1024;

/**
 * A cluster worker's memory: given back while the worker is idle, and its heap kept under a ceiling
 * while it serves (createHeapCeiling, below).
 *
 * Gives a cluster worker's memory back while it has nothing to do. V8 keeps its young generation
 * at the largest size a burst of requests grew it to, and the old one holding what the burst left,
 * for as long as the process lives: measured here, a worker that idled at 88 MiB sat at 153-159 MiB
 * for minutes after ten seconds of discovery load, and one just started holds the module graph's
 * leftovers. A memory-reducing collection (some 50 ms) gives that back; it is made once the worker
 * is up, and again whenever the event loop was nearly idle over a whole check and the heap has grown
 * since the last one. It needs `--expose-gc` (main.ts gives it to the workers); without it, nothing.
 */
export interface IdleMemoryRelease {
  /** Collects now (the worker is up and has served nothing yet). */
  release(): void;
  /** Collects if the loop was idle since the last check and the heap grew enough to be worth it. */
  check(): void;
}

/** Below this share of busy time over a check the worker counts as idle (its timers keep it above 0). */
const IDLE_UTILIZATION = 0.01;
/** Heap growth since the last collection that is worth a pause: less is noise. */
const MIN_GROWTH_BYTES = 16 * MiB;

export function createIdleMemoryRelease(deps: {
  collect: () => void;
  /** V8's heap as reserved (process.memoryUsage().heapTotal). */
  heapBytes: () => number;
  /** The event loop's busy share since the previous call, 0 to 1. */
  utilization: () => number;
}): IdleMemoryRelease {
  let heapAfterRelease = Number.POSITIVE_INFINITY;
  const release = () => {
    deps.collect();
    heapAfterRelease = deps.heapBytes();
  };
  return {
    release,
    check() {
      const idle = deps.utilization() < IDLE_UTILIZATION;
      if (idle && deps.heapBytes() - heapAfterRelease >= MIN_GROWTH_BYTES) release();
    },
  };
}

/**
 * Keeps a cluster worker's heap from growing on a false reading while it serves. After each full
 * collection V8 lets the old generation grow to twice what that collection kept
 * (`--heap-growing-percent=100`, main.ts). A collection whose incremental marking ran while the
 * worker was short of CPU counts what was allocated during the marking as kept: measured here, one
 * such collection under load kept 62 MB where the others kept 25, so the next came only at 125 MB,
 * and the worker's RSS rose from 193 to 263 MiB and stayed there. When the heap in use passes a
 * ceiling well above what a worker uses under load (at most 64 MB here, in every scenario of the
 * bench), one full collection finds what is really live and V8 sets its limit from that. A worker
 * whose live data is truly that large gets a ceiling of twice it, as V8 would have grown the heap,
 * until its heap is seen small again.
 */
export interface HeapCeiling {
  /** Collects if the heap in use is past the ceiling. */
  check(): void;
}

/** Above the 64 MB a worker's heap used at most in any bench scenario, below where its RSS nears 250 MB. */
const HEAP_CEILING_BYTES = 80 * MiB;

export function createHeapCeiling(deps: {
  collect: () => void;
  /** V8's heap in use (v8.getHeapStatistics().used_heap_size). */
  usedBytes: () => number;
}): HeapCeiling {
  let ceiling = HEAP_CEILING_BYTES;
  return {
    check() {
      const used = deps.usedBytes();
      // A heap seen this small holds at most this much live: the ceiling comes back down with it.
      ceiling = Math.max(HEAP_CEILING_BYTES, Math.min(ceiling, 2 * used));
      if (used < ceiling) return;
      deps.collect();
      ceiling = Math.max(HEAP_CEILING_BYTES, 2 * deps.usedBytes());
    },
  };
}

/**
 * In a worker started with --expose-gc: collects once now, then checks for an idle worker every
 * `idleEveryMs` and for the heap ceiling every `ceilingEveryMs` (a read of V8's counters), on timers
 * that do not keep the process alive (a stopping worker exits with them).
 */
export function manageWorkerMemory(idleEveryMs = 30_000, ceilingEveryMs = 250): void {
  const gc = globalThis.gc;
  if (!gc) return;
  let previous = performance.eventLoopUtilization();
  const memory = createIdleMemoryRelease({
    collect: () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }),
    heapBytes: () => process.memoryUsage().heapTotal,
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(now, previous);
      previous = now;
      return utilization;
    },
  });
  const ceiling = createHeapCeiling({
    collect: () => gc({ type: 'major', execution: 'sync' }),
    usedBytes: () => v8.getHeapStatistics().used_heap_size,
  });
  memory.release();
  previous = performance.eventLoopUtilization();
  setInterval(() => memory.check(), idleEveryMs).unref();
  setInterval(() => ceiling.check(), ceilingEveryMs).unref();
}
