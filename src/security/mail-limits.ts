import { createHash } from 'node:crypto';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Pool } from '../db/pool.ts';
import { clientKey, type LimitDecision } from './rate-limits.ts';

/**
 * Limits on the forms that make us send mail to an address someone types (forgot password,
 * sign-up, "send again"), so they cannot be used to flood an inbox or to probe at volume. Counted
 * in PostgreSQL (the rate_limits table, migrations/0002), so they hold across nodes; each count is
 * one upsert by rate-limiter-flexible, decided in the statement that records it.
 */

/** Requests one client address may make per hour on these forms. */
const MAIL_REQUESTS_PER_ADDRESS = 20;
/** Mails one recipient may be sent per hour because of these forms (each form counts, whether or not the address has an account). */
const MAILS_PER_RECIPIENT = 5;
const WINDOW_SECONDS = 3600;

/** The key a recipient counts under: a hash, so the table holds no email address. */
const recipientKey = (email: string) =>
  createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 32);

export function createMailLimits(deps: { pool: Pool }) {
  const limiter = (keyPrefix: string, points: number) =>
    new RateLimiterPostgres({
      storeClient: deps.pool,
      storeType: 'pool',
      tableName: 'rate_limits',
      tableCreated: true,
      // The server's rate limit sweep removes expired rows of the shared table.
      clearExpiredByTimeout: false,
      keyPrefix,
      points,
      duration: WINDOW_SECONDS,
    });
  const perAddress = limiter('mail_form', MAIL_REQUESTS_PER_ADDRESS);
  const perRecipient = limiter('mail_recipient', MAILS_PER_RECIPIENT);

  async function take(rateLimiter: RateLimiterPostgres, key: string): Promise<LimitDecision> {
    try {
      await rateLimiter.consume(key);
      return { allowed: true };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes)
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
      throw rejection;
    }
  }

  return {
    /** One request from this client address (an IPv6 /64 counts as one). */
    allowRequest: (ip: string) => take(perAddress, clientKey(ip)),
    /** One mail to this recipient; refused past the limit (the page says the same either way). */
    allowRecipient: (email: string) => take(perRecipient, recipientKey(email)),
  };
}
export type MailLimits = ReturnType<typeof createMailLimits>;
