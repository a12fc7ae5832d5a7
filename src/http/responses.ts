import type { Context } from 'koa';

/**
 * The answers every layer gives the same way: the error page, 503 while the database is
 * unreachable, 429 over a rate limit. Protocol errors stay the engine's classes (it renders them);
 * these are for our own middleware and pages, so a 503 or an error page is built in one place.
 */

/** Seconds a client should wait before retrying after a 503 (the pool reconnects on the next query). */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** RFC 6749 §4.1.2.1 registers `temporarily_unavailable` for "temporarily overloaded or under maintenance". */
const UNAVAILABLE_BODY = {
  error: 'temporarily_unavailable',
  error_description: 'the service is temporarily unavailable; try again shortly',
} as const;

/** A wait in milliseconds as a Retry-After value: whole seconds, rounded up, at least one. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** What the error view (views/error.ejs) shows, in the request's language. */
export interface ErrorPage {
  status: number;
  heading: string;
  message: string;
  /** Technical detail for the app's developer, under the person's message. */
  detail?: string | undefined;
  /** The code shown at the bottom (an OAuth error code, or ours such as `interaction_expired`). */
  code?: string | number | null | undefined;
  /** Sets Retry-After (429 and 503). */
  retryAfterSeconds?: number | undefined;
}

/** The locale strings (interactions/locales) of the pages built here. */
type ErrorStrings = 'server' | 'serverMessage' | 'badRequest' | 'badRequestMessage';

/** What the error page needs of the views (interactions/views.ts): the template and the request's strings. */
export interface ErrorViews {
  render(ctx: Context, name: 'error', data: Record<string, unknown> & { title: string }, status: number): Promise<void>;
  strings(ctx: Context): { error: Record<ErrorStrings, string> };
}

/** Renders our error page as the response (HTML, no-store, in the request's language). */
export async function renderErrorPage(ctx: Context, views: Pick<ErrorViews, 'render'>, page: ErrorPage): Promise<void> {
  if (page.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(page.retryAfterSeconds));
  await views.render(
    ctx,
    'error',
    {
      title: page.heading,
      heading: page.heading,
      message: page.message,
      detail: page.detail,
      code: page.code ?? null,
    },
    page.status,
  );
}

/** Whether the client asked for a page rather than JSON: the engine's rule (JSON unless HTML is preferred). */
export function wantsPage(ctx: Pick<Context, 'accepts'>): boolean {
  return ctx.accepts('json', 'html') === 'html';
}

/**
 * 503 while the database is unreachable: Retry-After, no-store, and the RFC 6749 body, or our
 * error page for a browser. Without views (an API-only route such as the token endpoint), JSON.
 */
export async function unavailable(ctx: Context, views?: ErrorViews): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  if (views && wantsPage(ctx)) {
    const t = views.strings(ctx);
    await renderErrorPage(ctx, views, {
      status: 503,
      heading: t.error.server,
      message: t.error.serverMessage,
      code: UNAVAILABLE_BODY.error,
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    });
    return;
  }
  ctx.status = 503;
  ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  ctx.body = { ...UNAVAILABLE_BODY };
}

/**
 * 429 for an API client over a rate limit: Retry-After, no-store and an RFC 6749-shaped body. The
 * code is `temporarily_unavailable` (the registered one for "overloaded"); the status tells a rate
 * limit from an outage.
 */
export function tooManyRequests(
  ctx: Pick<Context, 'set' | 'status' | 'body'>,
  seconds: number,
  description: string,
): void {
  ctx.status = 429;
  ctx.set('Retry-After', String(seconds));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: UNAVAILABLE_BODY.error, error_description: description };
}
