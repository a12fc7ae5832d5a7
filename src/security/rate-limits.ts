import { isIP } from 'node:net';
import type { Context, Next } from 'koa';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Pool, Queryable } from '../db/pool.ts';
import { retryAfterSeconds, tooManyRequests, unavailable } from '../http/responses.ts';
import type { EngineGuard } from '../http/routes.ts';
import type { Logger } from '../observability/logger.ts';
import type { Outage } from '../observability/outage.ts';

/** Requests per minute and per client address; 0 turns a limit off. */
export interface RateLimitSettings {
  loginPerMinute: number;
  tokenPerMinute: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** The table of migrations/0002_rate_limits.sql; both limiters share it under their own key prefix. */
const TABLE = 'rate_limits';
const WINDOW_SECONDS = 60;

const sweep = {
  name: 'rate_limits.sweep',
  // expire is in epoch milliseconds (the library's clock); rows an hour past it count for nothing.
  text: `delete from rate_limits where expire < (extract(epoch from now()) * 1000)::bigint - 3600000`,
};

/**
 * The key a client address counts under. An IPv6 host usually holds a whole /64, so it counts as
 * one client; an IPv4-mapped address counts as its IPv4 address.
 */
export function clientKey(ip: string): string {
  const bare = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(bare) !== 6) return bare || 'unknown';
  const [head = '', tail = ''] = bare.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = bare.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** A node takes token-endpoint points from PostgreSQL in blocks of this share of the limit. */
const LEASE_SHARE = 100;
/** Addresses with a live lease a node remembers at most (each is a few dozen bytes). */
const MAX_LEASES = 50_000;

interface Lease {
  remaining: number;
  until: number;
  refused: boolean;
}
interface Waiter {
  resolve(decision: LimitDecision): void;
  reject(err: unknown): void;
}

const refusedUntil = (until: number): LimitDecision => ({
  allowed: false,
  retryAfterSeconds: retryAfterSeconds(until - Date.now()),
});

/**
 * The token limit without a database write per request. A node takes points from the shared
 * counter in blocks (1/LEASE_SHARE of the limit: 60 of the default 6000) and spends them from
 * memory until the block is used up or the window ends; then it takes the next block. The counter
 * in PostgreSQL therefore runs ahead of the requests actually served by at most one block per node
 * and address: the limit holds across nodes and is never exceeded, it can only bite up to
 * (block - 1) x nodes requests early. Near the limit a block is cut to what is left (the surplus is
 * given back), and a refused address is refused from memory until its window ends. Small limits
 * (under LEASE_SHARE) have blocks of one point: every request is counted in the database, as before.
 *
 * A node has at most one refill in flight per address. Requests that find no points wait in that
 * address's queue; the refill hands its block out to them in order and takes the next block while
 * some still wait. So a burst costs one database write per block, and no block taken is left unserved.
 */
function leasedPoints(limiter: RateLimiterPostgres, points: number) {
  const block = Math.max(1, Math.floor(points / LEASE_SHARE));
  const leases = new Map<string, Lease>();
  const queues = new Map<string, Waiter[]>();

  function remember(key: string, lease: Lease): Lease {
    if (leases.size >= MAX_LEASES && !leases.has(key)) {
      const now = Date.now();
      for (const [other, held] of leases) if (held.until <= now) leases.delete(other);
      // Still full: forget them all; that only returns unused points to nobody until their windows end.
      if (leases.size >= MAX_LEASES) leases.clear();
    }
    leases.set(key, lease);
    return lease;
  }

  /** Takes the next block from the shared counter (cut to what the limit has left). */
  async function refill(key: string): Promise<Lease> {
    try {
      const taken = await limiter.consume(key, block);
      return remember(key, { remaining: block, until: Date.now() + taken.msBeforeNext, refused: false });
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const until = Date.now() + rejection.msBeforeNext;
      // consumedPoints 0: the library refused from its in-memory block (this node saw the address
      // over its limit) without reaching the database; nothing was taken and nothing is left.
      if (rejection.consumedPoints === 0) return remember(key, { remaining: 0, until, refused: true });
      const usedBefore = rejection.consumedPoints - block;
      const keep = Math.max(0, Math.min(block, points - usedBefore));
      if (keep < block) await limiter.reward(key, block - keep);
      return remember(key, { remaining: keep, until, refused: keep === 0 });
    }
  }

  /** Serves the address's queue: from its lease while it has points, else from the next block. */
  async function serve(key: string, queue: Waiter[]) {
    try {
      while (queue.length > 0) {
        let lease = leases.get(key);
        if (!lease || Date.now() >= lease.until || (!lease.refused && lease.remaining === 0)) lease = await refill(key);
        if (lease.refused) {
          const decision = refusedUntil(lease.until);
          for (const waiter of queue.splice(0)) waiter.resolve(decision);
          break;
        }
        for (; lease.remaining > 0 && queue.length > 0; lease.remaining -= 1) queue.shift()!.resolve({ allowed: true });
      }
    } catch (err) {
      for (const waiter of queue.splice(0)) waiter.reject(err);
    } finally {
      queues.delete(key);
    }
  }

  return {
    /** Takes one point for the address key; a failure of the store propagates to the caller. */
    take(key: string): Promise<LimitDecision> {
      const lease = leases.get(key);
      if (lease && Date.now() < lease.until && !queues.has(key)) {
        if (lease.refused) return Promise.resolve(refusedUntil(lease.until));
        if (lease.remaining > 0) {
          lease.remaining -= 1;
          return Promise.resolve({ allowed: true });
        }
      }
      return new Promise((resolve, reject) => {
        const queue = queues.get(key);
        if (queue) {
          queue.push({ resolve, reject });
          return;
        }
        const started = [{ resolve, reject }];
        queues.set(key, started);
        void serve(key, started);
      });
    },
  };
}

/**
 * Per-address limits on password attempts (the login form) and on the token endpoint, counted in
 * PostgreSQL so they hold across nodes. Per-account lockout (accounts.ts) stops guessing one
 * password; these stop one address from spraying many accounts or flooding the token endpoint.
 */
export function createRateLimits(deps: {
  pool: Pool;
  settings: RateLimitSettings;
  log: Logger;
  outage: Pick<Outage, 'unavailable'>;
}) {
  const { pool, settings, log } = deps;
  const limiter = (keyPrefix: string, points: number) =>
    points > 0
      ? new RateLimiterPostgres({
          storeClient: pool,
          storeType: 'pool',
          tableName: TABLE,
          tableCreated: true,
          // Our sweep below removes expired rows; the library's own timer would outlive the server.
          clearExpiredByTimeout: false,
          keyPrefix,
          points,
          duration: WINDOW_SECONDS,
          // An address over its limit is then refused from this node's memory until the window ends,
          // so a flood costs no further database writes.
          inMemoryBlockOnConsumed: points + 1,
        })
      : undefined;
  const login = limiter('login', settings.loginPerMinute);
  const token = limiter('token', settings.tokenPerMinute);
  const tokenLeases = token ? leasedPoints(token, settings.tokenPerMinute) : undefined;

  /** Takes one point; a failure of the store (database down) propagates to the caller. */
  async function take(rateLimiter: RateLimiterPostgres | undefined, ip: string): Promise<LimitDecision> {
    if (!rateLimiter) return { allowed: true };
    try {
      await rateLimiter.consume(clientKey(ip));
      return { allowed: true };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return { allowed: false, retryAfterSeconds: retryAfterSeconds(rejection.msBeforeNext) };
      }
      throw rejection;
    }
  }

  return {
    /** For the login form (LoginDeps.allowLoginAttempt): one point per password checked. */
    allowLoginAttempt(ctx: Context): Promise<LimitDecision> {
      return take(login, ctx.ip);
    },

    /**
     * Before the engine on the token route (POST): 429 over the limit, 503 while the database is
     * unreachable (http/responses.ts).
     */
    tokenRequestLimit: {
      routes: ['token'],
      methods: ['POST'],
      async check(ctx: Context, next: Next): Promise<void> {
        let decision: LimitDecision;
        try {
          decision = tokenLeases ? await tokenLeases.take(clientKey(ctx.ip)) : { allowed: true };
        } catch (err) {
          if (!isDatabaseUnavailable(err)) throw err;
          deps.outage.unavailable(err);
          await unavailable(ctx);
          return;
        }
        if (!decision.allowed) {
          ctx.state.log.info({ event: 'rate_limit.token' }, 'token request rate limited');
          tooManyRequests(
            ctx,
            decision.retryAfterSeconds,
            `too many token requests from this address; retry after ${decision.retryAfterSeconds} seconds`,
          );
          return;
        }
        await next();
      },
    } satisfies EngineGuard,

    /** Deletes counters that expired over an hour ago; returns how many. */
    async sweep(db: Queryable = pool): Promise<number> {
      const { rowCount } = await db.query(sweep);
      if (rowCount) log.debug({ event: 'rate_limit.swept', removed: rowCount }, 'expired rate limit counters removed');
      return rowCount ?? 0;
    },
  };
}
