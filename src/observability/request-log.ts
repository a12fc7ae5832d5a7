import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from './logger.ts';
import type { Outage } from './outage.ts';

declare module 'koa' {
  interface DefaultState {
    log: Logger;
    reqId: string;
  }
}

/**
 * One log line per request: method, path (never the query: it can carry a code), status and
 * duration. A child logger with req_id is left on ctx.state.log for the handlers. A 503 (the
 * database is unavailable: the outage tracker has said so once) is a warning, other 5xx errors.
 */
export function requestLog(log: Logger, outage?: Pick<Outage, 'answered'>) {
  return async function logRequest(ctx: Context, next: Next) {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const reqId = /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.reqId = reqId;
    ctx.state.log = log.child({ req_id: reqId });
    ctx.set('X-Request-Id', reqId);
    try {
      await next();
    } finally {
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      outage?.answered(status);
      const level = status === 503 ? 'warn' : status >= 500 ? 'error' : 'info';
      ctx.state.log[level](
        {
          event: 'http.request',
          method: ctx.method,
          path: ctx.path.slice(0, 200),
          status,
          duration_ms: Math.round(durationMs * 10) / 10,
        },
        'request',
      );
    }
  };
}
