import { once } from 'node:events';
import net from 'node:net';
import { cannotListen } from './cluster.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/open.ts';
import type { Logger } from './observability/logger.ts';
import { prepareDatabase } from './prepare-database.ts';

/**
 * The preparing child's work (main.ts), before the cluster primary forks any worker: the port is
 * free, the database is migrated and has its keys. The child then closes its pool and leaves the
 * embedded PostgreSQL it started (or adopted, left behind by a crash) running for the workers;
 * the primary stops it at shutdown. Returns whether the embedded PostgreSQL serves the cluster.
 */
export async function prepareCluster(config: Config, log: Logger): Promise<{ embedded: boolean }> {
  await assertPortFree(config.port, config.host);
  const database = await openDatabase(config, log, { adoptEmbedded: true });
  try {
    await prepareDatabase(database.pool, config, log);
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
  await database.closePool();
  return { embedded: database.embedded };
}

/**
 * Takes PORT once with a plain socket (no SO_REUSEPORT) and lets it go again, before any worker is
 * forked. Workers bind with SO_REUSEPORT, which another process of the same user (a second or stale
 * Latchkey cluster) could share: the kernel would then split the traffic between the two instead of
 * refusing the second. A plain bind is refused by any socket on the port, reusePort or not.
 */
async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  probe.listen({ port, host, exclusive: true });
  try {
    await once(probe, 'listening');
  } catch (err) {
    throw cannotListen(port, host, err);
  }
  await new Promise((resolve) => probe.close(resolve));
}
