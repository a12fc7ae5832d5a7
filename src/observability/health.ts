import Router from '@koa/router';
import type { Outage } from './outage.ts';

/**
 * /healthz: the process answers. /readyz: the database answers within a second and keys are loaded.
 * A failed check is an outage too (a probe may be the only traffic): the tracker is told.
 */
export function healthRoutes(deps: {
  pool: { query(text: string): Promise<unknown> };
  keysLoaded: () => boolean;
  outage: Pick<Outage, 'unavailable'>;
}): Router {
  return new Router()
    .get('/healthz', function healthz(ctx) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    })
    .get('/readyz', async function readyz(ctx) {
      ctx.set('Cache-Control', 'no-store');
      const database = await Promise.race([
        deps.pool.query('select 1').then(
          () => true,
          (err: unknown) => {
            deps.outage.unavailable(err);
            return false;
          },
        ),
        new Promise<boolean>((resolve) => setTimeout(resolve, 1000, false).unref()),
      ]);
      const keys = deps.keysLoaded();
      ctx.status = database && keys ? 200 : 503;
      ctx.body = {
        status: ctx.status === 200 ? 'ok' : 'unavailable',
        checks: { database: database ? 'ok' : 'down', keys: keys ? 'ok' : 'missing' },
      };
    });
}
