import { isIP } from 'node:net';
import type { Context, Next } from 'koa';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Pool, Queryable } from '../db/pool.ts';
import type { Logger } from '../observability/logger.ts';
import type { Outage } from '../observability/outage.ts';
import { isDatabaseUnavailable, UNAVAILABLE_BODY, UNAVAILABLE_RETRY_AFTER_SECONDS } from './database-errors.ts';

/** Requests per minute and per client address; 0 turns a limit off. */
export interface RateLimitSettings { loginPerMinute: number; tokenPerMinute: number }

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
  const groups = bare.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** A node takes token-endpoint points from PostgreSQL in blocks of this share of the limit. */
const LEASE_SHARE = 100;
/** Addresses with a live lease a node remembers at most (each is a few dozen bytes). */
const MAX_LEASES = 50_000;

/**
 * The token limit without a database write per request. A node takes points from the shared
 * counter in blocks (1/LEASE_SHARE of the limit: 60 of the default 6000) and spends them from
 * memory until the block is used up or the window ends; then it takes the next block. The counter
 * in PostgreSQL therefore runs ahead of the requests actually served by at most one block per node
 * and address: the limit holds across nodes and is never exceeded, it can only bite up to
 * (block - 1) x nodes requests early. Near the limit a block is cut to what is left (the surplus is
 * given back), and a refused address is refused from memory until its window ends. Small limits
 * (under LEASE_SHARE) have blocks of one point: every request is counted in the database, as before.
 */
function leasedPoints(limiter: RateLimiterPostgres, points: number) {
  const block = Math.max(1, Math.floor(points / LEASE_SHARE));
  const leases = new Map<string, { remaining: number; until: number; refused: boolean }>();
  const refilling = new Map<string, Promise<unknown>>();

  function remember(key: string, lease: { remaining: number; until: number; refused: boolean }) {
    if (leases.size >= MAX_LEASES && !leases.has(key)) {
      const now = Date.now();
      for (const [other, held] of leases) if (held.until <= now) leases.delete(other);
      // Still full: forget them all; that only returns unused points to nobody until their windows end.
      if (leases.size >= MAX_LEASES) leases.clear();
    }
    leases.set(key, lease);
  }

  async function refill(key: string): Promise<LimitDecision> {
    try {
      const taken = await limiter.consume(key, block);
      remember(key, { remaining: block - 1, until: Date.now() + taken.msBeforeNext, refused: false });
      return { allowed: true };
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const usedBefore = rejection.consumedPoints - block;
      const keep = Math.max(0, Math.min(block, points - usedBefore));
      if (keep < block) await limiter.reward(key, block - keep);
      remember(key, { remaining: Math.max(0, keep - 1), until: Date.now() + rejection.msBeforeNext, refused: keep === 0 });
      return keep > 0 ? { allowed: true } : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
    }
  }

  return {
    /** Takes one point for the address key; a failure of the store propagates to the caller. */
    async take(key: string): Promise<LimitDecision> {
      // Bounded: a request waits for at most two refills started by others, then refills itself.
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const lease = leases.get(key);
        const now = Date.now();
        if (lease && now < lease.until) {
          if (lease.refused) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((lease.until - now) / 1000)) };
          if (lease.remaining > 0) {
            lease.remaining -= 1;
            return { allowed: true };
          }
        }
        const pending = refilling.get(key);
        if (!pending || attempt === 2) break;
        await pending.catch(() => undefined);
      }
      const pending = refill(key);
      refilling.set(key, pending);
      try {
        return await pending;
      } finally {
        if (refilling.get(key) === pending) refilling.delete(key);
      }
    },
  };
}

/**
 * Per-address limits on password attempts (the login form) and on the token endpoint, counted in
 * PostgreSQL so they hold across nodes. Per-account lockout (accounts.ts) stops guessing one
 * password; these stop one address from spraying many accounts or flooding the token endpoint.
 */
export function createRateLimits(deps: { pool: Pool; settings: RateLimitSettings; log: Logger; outage: Pick<Outage, 'unavailable'> }) {
  const { pool, settings, log } = deps;
  const limiter = (keyPrefix: string, points: number) => (points > 0
    ? new RateLimiterPostgres({
      storeClient: pool, storeType: 'pool', tableName: TABLE, tableCreated: true,
      // Our sweep below removes expired rows; the library's own timer would outlive the server.
      clearExpiredByTimeout: false,
      keyPrefix, points, duration: WINDOW_SECONDS,
      // An address over its limit is then refused from this node's memory until the window ends,
      // so a flood costs no further database writes.
      inMemoryBlockOnConsumed: points + 1,
    })
    : undefined);
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
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
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
     * Koa middleware for the token route (POST), mounted before the engine. Answers 429 with Retry-After and
     * an RFC 6749-shaped body; the error code is `temporarily_unavailable` (RFC 6749 §4.1.2.1, the
     * registered code for "temporarily overloaded"), the status tells a rate limit from an outage.
     */
    async limitTokenRequests(ctx: Context, next: Next): Promise<void> {
      if (ctx.method !== 'POST' || ctx.state.route !== 'token') return next();
      let decision: LimitDecision;
      try {
        decision = tokenLeases ? await tokenLeases.take(clientKey(ctx.ip)) : { allowed: true };
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        deps.outage.unavailable(err);
        ctx.status = 503;
        ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { ...UNAVAILABLE_BODY };
        return;
      }
      if (!decision.allowed) {
        ctx.state.log.info({ event: 'rate_limit.token' }, 'token request rate limited');
        ctx.status = 429;
        ctx.set('Retry-After', String(decision.retryAfterSeconds));
        ctx.set('Cache-Control', 'no-store');
        ctx.body = {
          error: 'temporarily_unavailable',
          error_description: `too many token requests from this address; retry after ${decision.retryAfterSeconds} seconds`,
        };
        return;
      }
      await next();
    },

    /** Deletes counters that expired over an hour ago; returns how many. */
    async sweep(db: Queryable = pool): Promise<number> {
      const { rowCount } = await db.query(sweep);
      if (rowCount) log.debug({ event: 'rate_limit.swept', removed: rowCount }, 'expired rate limit counters removed');
      return rowCount ?? 0;
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;
