import type { Logger } from './logger.ts';

/**
 * One database outage, told once. Every request that meets an unreachable database would otherwise
 * log its own error with a stack (hundreds a second under load) while the one fact worth knowing,
 * "the database is gone, since when, for how long", drowns. The first report of an outage logs one
 * warning; from then on the tracker probes the database itself (requests may have stopped coming)
 * and logs one info line when it answers again, with how long it was gone and how many requests
 * were answered 503 meanwhile. Per process: each cluster worker tells its own.
 */
export interface Outage {
  /** The database could not be reached (a request, background work). Known outages log no stack. */
  unavailable(err?: unknown): void;
  /**
   * A connection was lost outside a request (an idle pool client, the LISTEN connection, the query
   * of background work). An outage only when the database then fails a probe: idle_session_timeout,
   * PgBouncer or a terminated backend drop connections of a database that is up, and that is no
   * outage to warn about.
   */
  connectionLost(err?: unknown): void;
  /** A response went out with `status`: the 503s of an outage are counted for its recovery line. */
  answered(status: number): void;
  readonly down: boolean;
  /** Stops probing and ignores further reports (the pool is being closed: its errors are not an outage). */
  stop(): void;
}

/** How often an outage is probed: recovery is logged at most this long after the database is back. */
const PROBE_INTERVAL_MS = 1000;

export function createOutageTracker(deps: {
  log: Logger;
  probe: () => Promise<unknown>;
  probeIntervalMs?: number;
}): Outage {
  const { log } = deps;
  const intervalMs = deps.probeIntervalMs ?? PROBE_INTERVAL_MS;
  let since: number | undefined;
  let failedRequests = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // A probe after a lost connection is under way: further losses meanwhile wait for its answer.
  let checking = false;

  const schedule = () => {
    timer = setTimeout(probe, intervalMs);
    timer.unref();
  };
  function probe() {
    timer = undefined;
    if (stopped || since === undefined) return;
    deps.probe().then(() => {
      if (stopped || since === undefined) return;
      const durationMs = Date.now() - since;
      log.info(
        { event: 'db.recovered', duration_ms: durationMs, requests_failed: failedRequests },
        `database available again after ${(durationMs / 1000).toFixed(1)} s; ${failedRequests} requests were answered 503`,
      );
      since = undefined;
      failedRequests = 0;
    }, schedule);
  }

  function unavailable(err?: unknown) {
    if (stopped || since !== undefined) return;
    since = Date.now();
    failedRequests = 0;
    const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
    log.warn(
      {
        event: 'db.unavailable',
        error: typeof message === 'string' && message ? message : undefined,
        code: typeof code === 'string' ? code : undefined,
      },
      'database unavailable: answering 503 until it is back',
    );
    schedule();
  }

  return {
    unavailable,
    connectionLost(err) {
      if (stopped || since !== undefined || checking) return;
      checking = true;
      deps
        .probe()
        .then(
          () => undefined,
          () => unavailable(err),
        )
        .finally(() => {
          checking = false;
        });
    },
    answered(status) {
      if (status === 503 && since !== undefined) failedRequests += 1;
    },
    get down() {
      return since !== undefined;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
