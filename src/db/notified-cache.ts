import pg from 'pg';
import type { Logger } from '../observability/logger.ts';

/**
 * Rows the token endpoint reads on every request but that change only when an operator runs the
 * CLI (clients, APIs), kept in memory. They stay correct across nodes through PostgreSQL's
 * LISTEN/NOTIFY: every change to such a table sends `NOTIFY <channel>, '<key>'` (the stores do
 * it), and each server listens on a dedicated connection and drops that entry. While that
 * connection is down a notification could be missed, so every cache is bypassed (each lookup reads
 * the database) until it listens again, and emptied then. `maxAgeMs` bounds staleness should
 * anything else fail. Misses are not cached: a flood of made-up ids cannot fill memory.
 */
export interface NotifiedCache<T> {
  get(key: string): Promise<T | undefined>;
  /** Drops one entry (it changed or was deleted). */
  invalidate(key: string): void;
  /** Drops everything and reads through to the database until `trust()` is called. */
  distrust(): void;
  /** Starts serving from memory (after LISTEN succeeded). */
  trust(): void;
  readonly size: number;
}

export function createNotifiedCache<T extends object>(deps: {
  load: (key: string) => Promise<T | undefined>;
  maxAgeMs: number;
  maxEntries?: number;
  now?: () => number;
}): NotifiedCache<T> {
  const { load, maxAgeMs } = deps;
  const maxEntries = deps.maxEntries ?? 10_000;
  const now = deps.now ?? Date.now;
  const entries = new Map<string, { value: T; loadedAt: number }>();
  // A load that started before an invalidation must not store what it read: it may be the old row.
  let generation = 0;
  let trusted = false;

  return {
    async get(key: string) {
      if (!trusted || maxAgeMs <= 0) return load(key);
      const hit = entries.get(key);
      if (hit && now() - hit.loadedAt < maxAgeMs) return hit.value;
      const started = generation;
      const value = await load(key);
      if (value && trusted && started === generation) {
        if (entries.size >= maxEntries && !entries.has(key)) entries.delete(entries.keys().next().value!);
        // Frozen: every request shares this object, none may change it for the others.
        entries.set(key, { value: Object.freeze(value), loadedAt: now() });
      }
      return value;
    },
    invalidate(key: string) {
      generation += 1;
      entries.delete(key);
    },
    distrust() {
      trusted = false;
      generation += 1;
      entries.clear();
    },
    trust() {
      generation += 1;
      entries.clear();
      trusted = true;
    },
    get size() {
      return entries.size;
    },
  };
}

export interface ChangeListener {
  close(): Promise<void>;
}

/**
 * Keeps one dedicated connection LISTENing on each cache's channel and feeds the caches.
 * Reconnects with backoff (1 s doubling to 30 s) after the connection drops; the caches are
 * bypassed meanwhile. An empty payload means "anything on this channel may have changed".
 */
export function listenForChanges(deps: {
  connection: pg.ClientConfig;
  caches: Record<string, Pick<NotifiedCache<object>, 'invalidate' | 'distrust' | 'trust'>>;
  log: Logger;
  /** Told when the connection drops: it probes, and a database outage is warned about once, there. */
  outage?: { connectionLost(err?: unknown): void };
}): ChangeListener {
  const { caches, log } = deps;
  const all = Object.values(caches);
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delayMs = 1000;
  let closed = false;
  // When an established connection dropped; each failed reconnection is only a debug line.
  let lostAt: number | undefined;

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delayMs);
    retryTimer.unref();
    delayMs = Math.min(delayMs * 2, 30_000);
  };

  const lost = (current: pg.Client, err?: Error) => {
    if (client !== current) return;
    client = undefined;
    for (const cache of all) cache.distrust();
    current.end().catch(() => undefined);
    if (closed) return;
    const error = err?.message;
    if (lostAt !== undefined) {
      log.debug({ event: 'cache.listen_retry_failed', error }, 'change notifications: reconnection failed');
    } else {
      lostAt = Date.now();
      deps.outage?.connectionLost(err);
      log[deps.outage ? 'info' : 'warn'](
        { event: 'cache.listen_lost', error },
        'change notifications lost: reading clients and APIs from the database until reconnected',
      );
    }
    scheduleReconnect();
  };

  async function connect() {
    if (closed) return;
    const current = new pg.Client({ ...deps.connection, application_name: 'latchkey' });
    client = current;
    current.on('error', (err) => lost(current, err));
    current.on('end', () => lost(current));
    current.on('notification', (message) => {
      const cache = caches[message.channel];
      if (!cache) return;
      if (message.payload) {
        cache.invalidate(message.payload);
      } else {
        cache.distrust();
        cache.trust();
      }
    });
    try {
      await current.connect();
      // Channel names are our constants (identifiers cannot be bound as parameters).
      for (const channel of Object.keys(caches)) await current.query(`listen ${channel}`);
    } catch (err) {
      lost(current, err as Error);
      return;
    }
    if (closed || client !== current) return;
    delayMs = 1000;
    for (const cache of all) cache.trust();
    if (lostAt !== undefined) {
      log.info(
        { event: 'cache.listen_restored', duration_ms: Date.now() - lostAt },
        'change notifications restored: clients and APIs from memory again',
      );
      lostAt = undefined;
    }
  }

  void connect();
  return {
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      for (const cache of all) cache.distrust();
      await current?.end().catch(() => undefined);
    },
  };
}
