import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Pool } from '../db/pool.ts';
import { renderErrorPage, retryAfterSeconds } from '../http/responses.ts';
import type { EngineGuard } from '../http/routes.ts';
import type { Logger } from '../observability/logger.ts';
import type { DeviceFlowPages } from '../oidc/provider.ts';
import { clientKey } from '../security/rate-limits.ts';
import { clientName, renderExpired } from './interaction.ts';
import type { Views } from './views.ts';

/**
 * The pages of the device authorization grant (RFC 8628) in our look: enter the code shown on
 * the device, confirm it, and the success page. The engine owns the flow and its xsrf check; we
 * render our own forms with its xsrf secret, so the pages carry no inline script (our CSP) and
 * the code field has a label. Sign-in and consent in between are our usual interaction pages.
 *
 * Wrong codes are limited per client address (RFC 8628 §5.1): a user code is short, so guessing
 * is the attack. Counted in PostgreSQL (the rate_limits table), so the limit holds across nodes.
 */

/** Wrong codes one address may enter per window; a person mistypes a few times, a guesser thousands. */
export const MAX_WRONG_CODES = 10;
const WINDOW_SECONDS = 15 * 60;
/** The engine's cookie naming the interaction a resume finishes (its default, lib/helpers/defaults.js). */
const RESUME_COOKIE = '_interaction_resume';
/** The engine's re-render errors (helpers/re_render_errors.js) for a code that is unknown, expired or used. */
const WRONG_CODE_ERRORS = new Set(['NotFoundError', 'ExpiredError', 'AlreadyUsedError']);

/** The engine's per-form xsrf secret, which it checks on the POST. */
function xsrfOf(ctx: KoaContextWithOIDC): string {
  const secret = (ctx.oidc.session?.state as { secret?: unknown } | undefined)?.secret;
  if (typeof secret !== 'string') throw new Error("device flow page rendered without the engine's xsrf secret");
  return secret;
}

export interface DeviceFlow {
  pages: DeviceFlowPages;
  /** Before the engine: refuses code entry from an address over the wrong-code limit. */
  codeEntryLimit: EngineGuard;
  /** Before the engine: a device resume without the flow's signed cookie is an expired sign-in. */
  resumeCookieCheck: EngineGuard;
}

export function createDeviceFlow(deps: { views: Views; pool: Pool; log: Logger }): DeviceFlow {
  const { views, pool, log } = deps;
  const wrongCodes = new RateLimiterPostgres({
    storeClient: pool,
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
    // The server's rate limit sweep removes expired rows of the shared table.
    clearExpiredByTimeout: false,
    keyPrefix: 'device_code',
    points: MAX_WRONG_CODES,
    duration: WINDOW_SECONDS,
  });
  // The address as our app resolved it (TRUST_PROXY_HOPS applied), handed to the engine's pages
  // through the request object both share, so counting and checking use the same key.
  const addressOf = new WeakMap<object, string>();
  const keyFor = (ctx: Pick<Context, 'req' | 'ip'>) => clientKey(addressOf.get(ctx.req) ?? ctx.ip);

  const pages: DeviceFlowPages = {
    async userCodeInputSource(ctx, _form, _out, err) {
      const t = views.strings(ctx);
      let error: string | undefined;
      if (err && WRONG_CODE_ERRORS.has(err.name)) {
        error = t.device.wrongCode;
        await wrongCodes.penalty(keyFor(ctx));
        log.info({ event: 'device.code_rejected', reason: err.name }, 'wrong device user code entered');
      } else if (err?.name === 'NoCodeError') {
        error = t.device.missing;
      } else if (err?.name === 'AbortedError') {
        error = t.device.aborted;
      } else if (err) {
        error = t.device.failed;
      }
      const typed = (err as { userCode?: unknown } | undefined)?.userCode;
      await views.render(
        ctx,
        'device-input',
        {
          title: t.device.title,
          action: ctx.oidc.urlFor('code_verification'),
          xsrf: xsrfOf(ctx),
          userCode: typeof typed === 'string' ? typed.slice(0, 64) : '',
          error,
        },
        err && ctx.status >= 400 ? ctx.status : 200,
      );
    },

    async userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
      const t = views.strings(ctx);
      const name = clientName(client);
      await views.render(ctx, 'device-confirm', {
        title: t.device.confirmTitle(name),
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(ctx),
        userCode,
        clientName: name,
      });
    },

    async successSource(ctx) {
      const t = views.strings(ctx);
      await views.render(ctx, 'device-success', {
        title: t.device.successTitle,
        clientName: clientName(ctx.oidc.client),
      });
    },
  };

  return {
    pages,
    codeEntryLimit: {
      routes: ['code_verification'],
      methods: ['POST'],
      check: limitCodeEntry,
    },
    resumeCookieCheck: {
      routes: ['device_resume'],
      check: requireResumeCookie,
    },
  };

  async function limitCodeEntry(ctx: Context, next: Next): Promise<void> {
    addressOf.set(ctx.req, ctx.ip);
    const used = await wrongCodes.get(keyFor(ctx));
    if (!used || used.consumedPoints < MAX_WRONG_CODES) return next();
    log.info({ event: 'rate_limit.device_code' }, 'device code entry rate limited');
    const t = views.strings(ctx);
    await renderErrorPage(ctx, views, {
      status: 429,
      heading: t.device.tooMany,
      message: t.device.tooManyMessage,
      retryAfterSeconds: retryAfterSeconds(used.msBeforeNext),
    });
  }

  /**
   * The engine resumes a device flow at GET /device/<uid> with the interaction's signed cookie.
   * Without it the engine's answer is its code form, rendered for a session never stored, whose
   * save then fails (a 500); without the cookie there is nothing to resume, so it is our
   * expired page. (The cookies are signed with the engine's keys: app.keys.)
   */
  async function requireResumeCookie(ctx: Context, next: Next): Promise<void> {
    if (ctx.cookies.get(RESUME_COOKIE, { signed: true })) return next();
    await renderExpired(ctx, views);
  }
}
