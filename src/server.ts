import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { createAccounts } from './accounts/accounts.ts';
import { createPasswordHasher } from './accounts/passwords.ts';
import { createAccountStore } from './accounts/store.ts';
import { createApp, type ProviderRef } from './app.ts';
import { createClientCache, createNotifiedCache, listenForChanges } from './clients/cache.ts';
import { createClients } from './clients/clients.ts';
import { CLIENTS_CHANNEL, createClientStore } from './clients/store.ts';
import { prepareDatabase } from './cluster.ts';
import type { Config } from './config.ts';
import { openDatabase, resolveSecretKey, type Database } from './db/open.ts';
import { createDeviceFlow } from './interactions/device.ts';
import { createCsrf } from './interactions/forms.ts';
import { createProviderPages } from './interactions/pages.ts';
import { createViews } from './interactions/views.ts';
import { createAuditStore } from './observability/audit-store.ts';
import type { Logger } from './observability/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { createAdapterFactory } from './oidc/adapter.ts';
import { APIS_CHANNEL, createApiResourceStore } from './oidc/api-resource-store.ts';
import { createKeyStore, KEYS_CHANNEL } from './oidc/key-store.ts';
import { sweepExpired } from './oidc/janitor.ts';
import { loadKeyMaterial, retiredKeyPublishSeconds, rotateKeys, type KeyMaterial } from './oidc/keys.ts';
import { createPayloadStore } from './oidc/payload-store.ts';
import { createProvider } from './oidc/provider.ts';
import { createReadAhead } from './oidc/read-ahead.ts';
import { createClientRegistrations } from './oidc/registration.ts';
import { createSecretBox } from './secret-box.ts';
import { guardEngine } from './security/engine-failures.ts';
import { createRateLimits } from './security/rate-limits.ts';
import { every } from './timers.ts';

export interface RunningServer {
  /** Base URL the server listens on (http://127.0.0.1:port). */
  url: string;
  port: number;
  database: Database;
  providerRef: ProviderRef;
  /** The separate metrics port when METRICS_PORT is set. */
  metricsPort: number | undefined;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), closes the pool and the embedded database. */
  close(graceMs?: number): Promise<void>;
}

/** How often a node deletes expired rate limit counters (a cheap indexed delete). */
const RATE_LIMIT_SWEEP_MS = 5 * 60_000;

export interface StartOptions {
  /**
   * A cluster worker (cluster.ts): the primary has already migrated and created the keys, and it
   * owns the embedded PostgreSQL, which the worker only attaches to.
   */
  worker?: boolean;
}

/**
 * The registry: builds every part once, wires them, and listens. Nothing below reads the
 * environment; everything arrives through `config`.
 */
export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const database = await openDatabase(config, log, { adoptEmbedded: !options.worker });
  try {
    return await listen(config, log, database, options);
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}

async function listen(config: Config, log: Logger, database: Database, options: StartOptions): Promise<RunningServer> {
  const { pool } = database;
  const secretKey = options.worker ? await resolveSecretKey(config, log) : await prepareDatabase(pool, config, log);
  const box = createSecretBox(secretKey);

  const keyStore = createKeyStore(pool);
  const payloads = createPayloadStore(pool);
  const accountStore = createAccountStore(pool);
  const accounts = createAccounts({
    store: accountStore,
    // A cluster worker shares the cores with WEB_CONCURRENCY - 1 others: it hashes its share at a
    // time (one, by default), so a login burst neither oversubscribes the CPU nor holds several
    // 19 MiB buffers per worker. A single process uses every core.
    passwords: createPasswordHasher({ memoryKib: config.argon2.memoryKib, iterations: config.argon2.iterations,
      concurrency: Math.max(1, Math.floor(availableParallelism() / (options.worker ? config.webConcurrency : 1))) }),
    lockout: config.lockout,
  });
  const clients = createClients({ store: createClientStore(pool), box });
  const apis = createApiResourceStore(pool);
  const metrics = createMetrics({ pool, clusterWorker: options.worker });
  const audit = metrics.observeAudit(createAuditStore(pool));
  const views = createViews({ brand: config.brand, themeDir: config.themeDir });
  const pages = createProviderPages(views);
  // Clients and APIs from memory on the token path; LISTEN/NOTIFY keeps every node's copy current.
  const clientCache = createClientCache({ load: clients.findMetadata, maxAgeMs: config.clientCacheSeconds * 1000 });
  const apiCache = createNotifiedCache({ load: apis.findByIdentifier, maxAgeMs: config.clientCacheSeconds * 1000 });
  // Dynamic registration (REGISTRATION_ENABLED) writes clients through the engine's adapter.
  const registrations = config.registrationEnabled ? createClientRegistrations(clients) : undefined;
  const readAhead = createReadAhead();
  const adapter = createAdapterFactory({ payloads, clients: clientCache, box, registrations, readAhead,
    refreshReuseGraceSeconds: config.refreshTokenReuseGraceSeconds });
  const device = createDeviceFlow({ views, pool, log });

  const limits = createRateLimits({ pool, settings: config.rateLimit, log });
  const buildProvider = (keys: KeyMaterial) => guardEngine(
    metrics.observeProvider(createProvider({ config, adapter, keys, accounts: accountStore, apis: { ...apis, findByIdentifier: apiCache.get }, grants: payloads, pages, device: device.pages, log })), { pages, log });
  let keys = await loadKeyMaterial(keyStore, box, config.cookieKeys);
  const providerRef: ProviderRef = { current: buildProvider(keys) };

  const app = createApp({
    config, pool, providerRef, views, log, readAhead,
    interactions: { accounts, accountStore, audit, csrf: createCsrf(secretKey), allowLoginAttempt: limits.allowLoginAttempt, consents: payloads },
    engineGuards: [limits.limitTokenRequests, device.limitCodeEntry],
    observeRequests: metrics.observeRequests,
    extraRoutes: config.metricsPort === undefined ? [metrics.routes()] : [],
  });
  app.keys = keys.cookieSigner;

  // Rotates the keys when they are due (KEY_ROTATION_DAYS; of several nodes finding it due, the
  // first rotates and the others see fresh keys inside the lock), then picks up whatever another
  // node or `latchkey keys rotate` changed, without a restart.
  const rotationSeconds = config.keys.rotationDays * 86_400;
  async function refreshKeys() {
    let latest = await loadKeyMaterial(keyStore, box, config.cookieKeys);
    if (rotationSeconds > 0 && Date.now() - latest.oldestActivation.getTime() >= rotationSeconds * 1000) {
      const publishRetiredSeconds = retiredKeyPublishSeconds(config.ttl, (await apis.list()).map((api) => api.access_token_ttl));
      const rotated = await rotateKeys(pool, box, { publishRetiredSeconds, cookieGraceSeconds: config.ttl.session, ifActiveOlderThanSeconds: rotationSeconds });
      if (rotated.length > 0) {
        metrics.keyRotations.inc();
        await audit.record({ event: 'key.rotated', details: { rotated, scheduled: true } });
        log.info({ event: 'key.rotated', rotated }, 'signing keys rotated on schedule');
      }
      latest = await loadKeyMaterial(keyStore, box, config.cookieKeys);
    }
    if (latest.fingerprint === keys.fingerprint) return;
    keys = latest;
    providerRef.current = buildProvider(latest);
    app.keys = latest.cookieSigner;
    log.info({ event: 'key.reloaded' }, 'signing or cookie keys changed: reloaded');
  }
  const keyWatch = every(config.keys.reloadIntervalMs, refreshKeys,
    (err) => log.warn({ event: 'key.reload_failed', err }, 'could not reload or rotate keys'));
  // Expired codes, tokens and sessions; with several nodes one sweeps per round (advisory lock).
  const janitor = config.janitorIntervalSeconds > 0 ? every(config.janitorIntervalSeconds * 1000, async () => {
    const removed = await sweepExpired(pool, log);
    if (removed) metrics.janitorRemoved.inc(removed);
  }, (err) => log.warn({ event: 'janitor.failed', err }, 'could not sweep expired rows')) : undefined;
  const rateLimitSweep = setInterval(() => {
    limits.sweep().catch((err: unknown) => log.warn({ event: 'rate_limit.sweep_failed', err }, 'could not sweep rate limit counters'));
  }, RATE_LIMIT_SWEEP_MS);
  rateLimitSweep.unref();

  const server = http.createServer(app.callback());
  const drain = drainOnClose(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let metricsServer: http.Server | undefined;
  // In a cluster the primary serves METRICS_PORT (cluster.ts), summing every worker.
  if (config.metricsPort !== undefined && !options.worker) {
    const listening = http.createServer(metrics.listener(log));
    await new Promise<void>((resolve, reject) => {
      listening.once('error', (err) => {
        server.close();
        reject(new Error(`cannot listen on METRICS_PORT ${config.metricsPort}: ${err.message}`, { cause: err }));
      });
      listening.listen(config.metricsPort, config.host, () => resolve());
    });
    metricsServer = listening;
  }
  // Until this connection listens, the cache reads through to the database.
  const clientChanges = config.clientCacheSeconds > 0
    ? listenForChanges({ connection: pool.options, caches: { [CLIENTS_CHANNEL]: clientCache, [APIS_CHANNEL]: apiCache,
      // Keys changed (or notifications were lost while reconnecting): reload now rather than at the next poll.
      [KEYS_CHANNEL]: { invalidate: keyWatch.now, trust: keyWatch.now, distrust() {} } }, log })
    : undefined;
  log.info({ event: 'server.listening', port, issuer: config.issuer, embedded_db: database.embedded }, `Latchkey listening on ${config.issuer}`);

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    database,
    providerRef,
    metricsPort: metricsServer ? (metricsServer.address() as AddressInfo).port : undefined,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        clearInterval(rateLimitSweep);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        drain();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await Promise.all([closed, keyWatch.stop(), janitor?.stop(),
          metricsServer && new Promise((resolve) => metricsServer.close(resolve))]);
        clearTimeout(timer);
        await clientChanges?.close();
        await database.close();
        log.info({ event: 'server.stopped' }, 'Latchkey stopped');
      })();
      return closing;
    },
  };
}

/**
 * Keep-alive connections would hold `server.close()` open until the grace period ends. Once
 * closing, every response still to be sent says `Connection: close`, and each connection is
 * closed as soon as its last response has gone, so shutdown ends when the in-flight requests do.
 */
function drainOnClose(server: http.Server): () => void {
  const inFlight = new Set<http.ServerResponse>();
  let draining = false;
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
  });
  return function startDraining() {
    draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.closeIdleConnections();
  };
}
