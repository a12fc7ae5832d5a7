import Router from '@koa/router';
import type { Pool } from '../db/pool.ts';

/** /healthz: the process answers. /readyz: the database answers within a second and keys are loaded. */
export function healthRoutes(deps: { pool: Pool; keysLoaded: () => boolean }): Router {
  return new Router()
    .get('/healthz', function healthz(ctx) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    })
    .get('/readyz', async function readyz(ctx) {
      ctx.set('Cache-Control', 'no-store');
      const database = await Promise.race([
        deps.pool.query('select 1').then(() => true, () => false),
        new Promise<boolean>((resolve) => setTimeout(resolve, 1000, false).unref()),
      ]);
      const keys = deps.keysLoaded();
      ctx.status = database && keys ? 200 : 503;
      ctx.body = { status: ctx.status === 200 ? 'ok' : 'unavailable', checks: { database: database ? 'ok' : 'down', keys: keys ? 'ok' : 'missing' } };
    });
}
