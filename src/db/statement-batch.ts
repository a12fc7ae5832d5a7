import { isDatabaseUnavailable } from './errors.ts';

/**
 * Statements of one kind that arrive together go to PostgreSQL as one statement, so they share one
 * round trip (and a write, one transaction and one WAL flush). "Together" is sized by the load, not
 * by a timer: one statement of a kind is in flight at a time, and what arrives while it runs goes
 * in the next one, as soon as it is done. Idle, an item goes out in the turn of the event loop it
 * arrived in; under load a statement carries what arrived during one round trip (the bench's
 * client_credentials, userinfo and introspection: a third to a half less PostgreSQL CPU per request
 * than with a statement per turn of the event loop, bench/README.md). A statement unanswered after
 * STALLED_AFTER_MS no longer holds back the next one: one waiting on a row lock (an operator's open
 * transaction, say) delays the others of its kind by that much, not until the lock is released
 * (each stalled statement keeps its pool connection, so the pool's size still bounds how many).
 *
 * For writes this is group commit in the application: on this kind of machine the flush, a virtio
 * notify per commit, is most of what a one-row insert costs PostgreSQL. Each caller still waits
 * for the commit that carries its write: nothing is answered before it is durable. For reads (a
 * token looked up by the requests that arrived together) it is one round trip and one statement's
 * overhead instead of one each; every caller still reads what was committed when it asked.
 *
 * A failed batch of several is tried again one item at a time, so that an item PostgreSQL refuses
 * (a value jsonb cannot hold, say) fails only its own request, never its neighbours'. An
 * unreachable database fails the whole batch at once: trying each item again would only multiply
 * the connection attempts of an outage. Met by the statement holding its kind's turn, it also
 * fails what waited behind that statement, for the same reason.
 */

/** Far longer than a statement takes under load here (p99 of a whole token request: 30-80 ms). */
const STALLED_AFTER_MS = 250;

/** Queues `item` for the next batch; resolves with its outcome once that batch is done (committed, for a write). */
export type StatementBatch<Item, Outcome> = (item: Item) => Promise<Outcome>;

interface Waiting<Item, Outcome> {
  item: Item;
  resolve(outcome: Outcome): void;
  reject(err: unknown): void;
}

export function createStatementBatch<Item, Outcome>(options: {
  /** Runs the items as one statement; returns one outcome per item, in order. */
  run(items: Item[]): Promise<Outcome[]>;
  /** Most items in one statement (bounds the statement's size). */
  maxItems: number;
}): StatementBatch<Item, Outcome> {
  let queue: Waiting<Item, Outcome>[] = [];
  let scheduled = false;
  /** Statements of this kind in flight, and of those, the ones unanswered after STALLED_AFTER_MS. */
  let running = 0;
  let stalled = 0;

  /**
   * Runs one statement. `slot` is set for the statement holding its kind's turn (not for the
   * retries of a failed batch's items): only while it has not stalled does an outage it meets also
   * fail what queued behind it.
   */
  const settle = async (batch: Waiting<Item, Outcome>[], slot?: { late: boolean }): Promise<void> => {
    try {
      const outcomes = await options.run(batch.map((waiting) => waiting.item));
      for (const [i, waiting] of batch.entries()) waiting.resolve(outcomes[i] as Outcome);
    } catch (err) {
      const unavailable = isDatabaseUnavailable(err);
      // Those that waited meanwhile would only try the unreachable database again.
      if (unavailable && slot && !slot.late) for (const waiting of queue.splice(0)) waiting.reject(err);
      if (batch.length === 1 || unavailable) for (const waiting of batch) waiting.reject(err);
      // Tried again one by one, still holding the kind's turn.
      else await Promise.all(batch.map((waiting) => settle([waiting])));
    }
  };

  const schedule = () => {
    if (scheduled || running > stalled || queue.length === 0) return;
    scheduled = true;
    // After the I/O callbacks of this turn: every request that reached this statement in this turn joins.
    setImmediate(flush);
  };

  const flush = () => {
    scheduled = false;
    const batch = queue.length > options.maxItems ? queue.splice(0, options.maxItems) : queue;
    if (batch === queue) queue = [];
    running += 1;
    const slot = { late: false };
    const stall = setTimeout(() => {
      slot.late = true;
      stalled += 1;
      schedule();
    }, STALLED_AFTER_MS);
    void settle(batch, slot).finally(() => {
      clearTimeout(stall);
      running -= 1;
      if (slot.late) stalled -= 1;
      schedule();
    });
  };

  return (item: Item) =>
    new Promise<Outcome>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}
