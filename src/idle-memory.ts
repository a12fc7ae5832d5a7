import { performance } from 'node:perf_hooks';

/**
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
const MIN_GROWTH_BYTES = 16 * 1024 * 1024;

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
 * In a worker started with --expose-gc: collects once now, then checks every `everyMs` on a timer
 * that does not keep the process alive (a stopping worker exits with it).
 */
export function releaseMemoryWhenIdle(everyMs = 30_000): void {
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
  memory.release();
  previous = performance.eventLoopUtilization();
  setInterval(() => memory.check(), everyMs).unref();
}
