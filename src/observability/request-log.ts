import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { type Logger, unredacted } from './logger.ts';
import type { Outage } from './outage.ts';

declare module 'koa' {
  interface DefaultState {
    log: Logger;
    reqId: string;
  }
}

const REQUEST_ID = /^[\w.-]{1,64}$/;

/**
 * ctx.state of one request: its req_id, and a child logger carrying it, made the first time a
 * handler logs (most requests log only their request line, which needs no child).
 */
function requestState(log: Logger, reqId: string): { reqId: string; log: Logger } {
  let child: Logger | undefined;
  return {
    reqId,
    get log() {
      child ??= log.child({ req_id: reqId });
      return child;
    },
    set log(replacement: Logger) {
      child = replacement;
    },
  };
}

/**
 * One log line per request: method, path (never the query: it can carry a code), status and
 * duration. A child logger with req_id is on ctx.state.log for the handlers. A 503 (the
 * database is unavailable: the outage tracker has said so once) is a warning, other 5xx errors.
 * The request line holds no secret by construction, so it skips redaction (logger.ts). The same
 * timing goes to `observe` (the metrics), so every request is timed once.
 */
export function requestLog(
  log: Logger,
  options: {
    outage?: Pick<Outage, 'answered'> | undefined;
    observe?: ((ctx: Context, status: number, seconds: number) => void) | undefined;
  } = {},
) {
  const { outage, observe } = options;
  const lines = unredacted(log);
  return async function logRequest(ctx: Context, next: Next) {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const reqId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state = requestState(log, reqId);
    ctx.set('X-Request-Id', reqId);
    let thrown: number | undefined;
    try {
      await next();
    } catch (err) {
      // Reaches Koa's own error handler, which answers with the error's status.
      thrown = (err as { status?: number }).status ?? 500;
      throw err;
    } finally {
      const status = thrown ?? (ctx.respond === false ? ctx.res.statusCode : ctx.status);
      const elapsedMs = performance.now() - started;
      outage?.answered(status);
      observe?.(ctx, status, elapsedMs / 1000);
      const level = status === 503 ? 'warn' : status >= 500 ? 'error' : 'info';
      if (lines.isLevelEnabled(level))
        lines[level](
          {
            req_id: reqId,
            event: 'http.request',
            method: ctx.method,
            path: ctx.path.length > 200 ? ctx.path.slice(0, 200) : ctx.path,
            status,
            duration_ms: Math.round(elapsedMs * 10) / 10,
          },
          'request',
        );
    }
  };
}
