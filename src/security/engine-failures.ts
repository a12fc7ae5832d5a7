import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable, isUnstorableInput, UNSTORABLE_DESCRIPTION } from '../db/errors.ts';
import { type ErrorViews, renderErrorPage, unavailable, wantsPage } from '../http/responses.ts';
import type { Logger } from '../observability/logger.ts';
import type { Outage } from '../observability/outage.ts';

type Failure = 'unavailable' | 'unstorable';

function classify(err: unknown): Failure | undefined {
  if (isDatabaseUnavailable(err)) return 'unavailable';
  if (isUnstorableInput(err)) return 'unstorable';
  return undefined;
}

/** The engine's ensureSessionSave (lib/helpers/initialize_app.js) on a session that was never persisted. */
function isUnsavedSessionSave(err: unknown): boolean {
  return err instanceof TypeError && err.message === 'persist can only be called on previously persisted Sessions';
}

/**
 * Guards the engine (applied to every provider we build).
 *
 * The engine answers every failure of our adapter with 500 server_error: it cannot tell a bug
 * from an unreachable database or from a request carrying text PostgreSQL refuses (a NUL byte in
 * `state`). This gives those two their proper answers: 503 temporarily_unavailable with
 * Retry-After (clients and load balancers retry), and 400 invalid_request.
 *
 * A database error leaves an engine route in one of two ways: its error handler catches it,
 * renders server_error and emits `server_error` (we note the request and fix the answer after the
 * route), or it escapes the route (the session is saved after the error handler ran) and reaches
 * this middleware. The engine's own redirect of server_error to a verified redirect_uri is kept.
 *
 * It also logs the engine's failures: a bug as `server_error` with its stack; an unreachable
 * database through the outage tracker, which says so once per outage instead of once per request.
 */
export function guardEngine(
  provider: Provider,
  deps: { views: ErrorViews; log: Logger; outage: Pick<Outage, 'unavailable'> },
): Provider {
  const { views } = deps;
  logEscapedErrors(provider, deps.log);
  const failures = new WeakMap<object, Failure>();
  const noteFailure = (ctx: object, err: unknown, failure: Failure | undefined) => {
    if (failure === 'unavailable') deps.outage.unavailable(err);
    else if (failure === 'unstorable')
      deps.log.info(
        { event: 'request.unstorable', route: (ctx as KoaContextWithOIDC).oidc?.route },
        'request carried text the database cannot store',
      );
    if (failure) failures.set(ctx, failure);
  };
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: unknown) => {
    const failure = classify(err);
    if (failure) noteFailure(ctx, err, failure);
    else deps.log.error({ event: 'server_error', route: ctx.oidc?.route, err }, 'server error');
  });
  provider.use(async function databaseFailures(ctx: Context, next: Next) {
    try {
      await next();
    } catch (err) {
      // The engine answered a device page's error (4xx, its code form) on a session it never
      // stored, then failed to save that session: the answer stands (GET /device/<uid> of a
      // sign-in that expired, without a session cookie). Anything else is a failure.
      if (isUnsavedSessionSave(err) && ctx.status >= 400 && ctx.status < 500 && ctx.body !== undefined) return;
      const failure = classify(err);
      if (!failure) throw err;
      noteFailure(ctx, err, failure);
      ctx.status = 500;
      ctx.body = undefined;
    }
    const failure = failures.get(ctx);
    if (!failure || ctx.status < 500) return;
    if (failure === 'unavailable') {
      await unavailable(ctx, views);
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    if (!wantsPage(ctx)) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: UNSTORABLE_DESCRIPTION };
      return;
    }
    const t = views.strings(ctx);
    await renderErrorPage(ctx, views, {
      status: 400,
      heading: t.error.badRequest,
      message: t.error.badRequestMessage,
      detail: UNSTORABLE_DESCRIPTION,
      code: 'invalid_request',
    });
  });
  return provider;
}

/**
 * The engine is a Koa app of its own: an error that escapes it (most often a client that hung up
 * mid-body, which Node reports as "Parse Error" or "aborted") would go to Koa's default handler,
 * which prints it to stderr. Our logger takes it instead: client hang-ups at debug, the rest as errors.
 */
function logEscapedErrors(provider: Provider, log: Logger) {
  type EscapedError = Error & { status?: number; expose?: boolean; code?: string };
  // Koa's 'error' event; the engine's typings list only its own events.
  (provider.on as (event: 'error', listener: (err: EscapedError) => void) => Provider)('error', (err) => {
    if (err.expose || (err.status !== undefined && err.status < 500)) return;
    const hungUp =
      (typeof err.code === 'string' &&
        (err.code.startsWith('HPE_') || err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE')) ||
      /^(aborted|Parse Error)/.test(err.message);
    if (hungUp) log.debug({ event: 'http.client_error', err }, 'client closed the connection mid-request');
    else log.error({ event: 'server_error', err }, "error outside the engine's routes");
  });
}
