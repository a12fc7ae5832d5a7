import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ProviderRef } from './app.ts';
import { observedAudit } from './audit/store.ts';
import { createClientCache } from './clients/cache.ts';
import { CLIENTS_CHANNEL } from './clients/store.ts';
import { cannotListen, kernelBalancing } from './cluster.ts';
import type { Config } from './config.ts';
import { isDatabaseUnavailable } from './db/errors.ts';
import { createNotifiedCache, listenForChanges } from './db/notified-cache.ts';
import type { Database } from './db/open.ts';
import { probeDatabase } from './db/pool.ts';
import { DRAIN_WINDOW_MS, drainOnClose } from './http-drain.ts';
import { createDeviceFlow } from './interactions/device.ts';
import { createCsrf } from './interactions/forms.ts';
import { createProviderPages } from './interactions/pages.ts';
import { createViews } from './interactions/views.ts';
import { MAIL_CHANNEL } from './mail/outbox-store.ts';
import { passkeysPossible } from './mfa/passkeys.ts';
import { createSecondFactorPolicy } from './mfa/policy.ts';
import type { Logger } from './observability/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { createOutageTracker } from './observability/outage.ts';
import { createAdapterFactory } from './oidc/adapter.ts';
import { APIS_CHANNEL } from './oidc/api-resource-store.ts';
import { sweepExpired } from './oidc/janitor.ts';
import { KEYS_CHANNEL } from './oidc/key-store.ts';
import { type KeyMaterial, loadKeyMaterial, retiredKeyPublishSeconds, rotateKeys } from './oidc/keys.ts';
import { createProvider } from './oidc/provider.ts';
import { createReadAhead } from './oidc/read-ahead.ts';
import { createClientRegistrations } from './oidc/registration.ts';
import { createPlaygroundClients } from './playground/clients.ts';
import { guardEngine } from './security/engine-failures.ts';
import { createMailLimits } from './security/mail-limits.ts';
import { createRateLimits } from './security/rate-limits.ts';
import { openServices, type Services } from './services.ts';
import { every } from './timers.ts';

export interface RunningServer {
  /** Base URL the server listens on (http://127.0.0.1:port). */
  url: string;
  port: number;
  database: Database;
  providerRef: ProviderRef;
  /** The port of the metrics listener (METRICS_PORT, on METRICS_HOST); none on the public port, or when off. */
  metricsPort: number | undefined;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), closes the pool and the embedded database. */
  close(graceMs?: number): Promise<void>;
}

/**
 * How often a node looks for due mails without being woken: retries fall due on their own, and a
 * notification can be lost while the listening connection reconnects. A new mail wakes every
 * node at once (NOTIFY at commit).
 */
const MAIL_POLL_MS = 15_000;

/** How often a node deletes expired rate limit counters (a cheap indexed delete). */
const RATE_LIMIT_SWEEP_MS = 5 * 60_000;

export interface StartOptions {
  /**
   * A cluster worker (cluster.ts): the preparing child has already migrated and created the keys,
   * and the primary owns the embedded PostgreSQL, which the worker only attaches to.
   */
  worker?: boolean;
}

/**
 * Opens the database and the services (services.ts), builds what serving needs on top of them
 * once, wires it all, and listens. Nothing below reads the environment; everything arrives
 * through `config`.
 */
export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const { database, secretKey, services } = await openServices(
    config,
    log,
    options.worker ? 'cluster-worker' : 'server',
  );
  try {
    return await listen(config, log, options, { database, secretKey, services });
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}

async function listen(
  config: Config,
  log: Logger,
  options: StartOptions,
  opened: { database: Database; secretKey: string; services: Services },
): Promise<RunningServer> {
  const {
    database,
    secretKey,
    services: {
      box,
      accounts,
      selfService,
      accountPages,
      passkeys,
      sweepRetained,
      clients,
      apis,
      keys: keyStore,
      payloads,
      consents,
      audit: auditStore,
      secondFactors,
      mailSender,
      playground,
    },
  } = opened;
  const accountStore = accounts.store;
  const { pool } = database;
  // Built once: every place that meets an unreachable database tells it, and it logs the outage once.
  const outage = createOutageTracker({ log, probe: () => probeDatabase(pool) });
  // An idle client's connection dropped: an outage only if the database then fails a probe.
  pool.on('error', (err) => outage.connectionLost(err));
  // Background work that fails: an outage is the tracker's to tell, anything else a warning of its own.
  // Its query ran on one pooled connection, which an administrator or a proxy may have just ended
  // while the database is up: a probe on a new connection decides whether that is an outage.
  const backgroundFailure = (event: string, message: string) => (err: unknown) => {
    if (isDatabaseUnavailable(err)) outage.connectionLost(err);
    else log.warn({ event, err }, message);
  };

  const metrics = createMetrics({ pool, clusterWorker: options.worker });
  const audit = observedAudit(auditStore, metrics.countAuditEvent);
  const views = createViews({ brand: config.brand, themeDir: config.themeDir });
  const pages = createProviderPages(views);
  // Clients and APIs from memory on the token path; LISTEN/NOTIFY keeps every node's copy current.
  const clientCache = createClientCache({ load: clients.findMetadata, maxAgeMs: config.clientCacheSeconds * 1000 });
  const apiCache = createNotifiedCache({
    load: apis.store.findByIdentifier,
    maxAgeMs: config.clientCacheSeconds * 1000,
  });
  // Dynamic registration (REGISTRATION_ENABLED) writes clients through the engine's adapter.
  const registrations = config.registrationEnabled ? createClientRegistrations(clients) : undefined;
  const readAhead = createReadAhead();
  const adapter = createAdapterFactory({
    payloads,
    clients: clientCache,
    box,
    registrations,
    readAhead,
    refreshReuseGraceSeconds: config.refreshTokenReuseGraceSeconds,
  });
  const device = createDeviceFlow({ views, pool, log });

  const limits = createRateLimits({ pool, settings: config.rateLimit, log, outage });
  const secondFactorPolicy = createSecondFactorPolicy({ mfaRequired: config.mfaRequired });
  const buildProvider = (keys: KeyMaterial) =>
    guardEngine(
      metrics.observeProvider(
        createProvider({
          config,
          adapter,
          keys,
          accounts: accountStore,
          accountReadAhead: readAhead.account,
          restoreConsumed: readAhead.restoreConsumed,
          apis: { ...apis.store, findByIdentifier: apiCache.get },
          consents,
          pages,
          device: device.pages,
          secondFactor: secondFactorPolicy,
          log,
        }),
      ),
      { views, log, outage },
    );
  let keys = await loadKeyMaterial(keyStore, box, config.cookieKeys);
  const providerRef: ProviderRef = { current: buildProvider(keys) };

  const csrf = createCsrf(secretKey);
  // Passkeys on the pages only where browsers allow them (an ISSUER with a domain, not an IP address).
  const pagePasskeys = passkeysPossible(config.issuer) ? passkeys : undefined;
  const mailLimits = createMailLimits({ pool });
  const app = createApp({
    config,
    pool,
    providerRef,
    views,
    log,
    readAhead,
    outage,
    interactions: {
      accounts,
      accountStore,
      audit,
      csrf,
      allowLoginAttempt: limits.allowLoginAttempt,
      consents,
      selfService,
      mailLimits,
      flows: config.flows,
      secondFactors,
      secondFactorPolicy,
      passkeys: pagePasskeys,
    },
    account: {
      accounts,
      payloads,
      store: accountPages,
      selfService,
      mailLimits,
      audit,
      csrf,
      pool,
      issuer: config.issuer,
      deletionEnabled: config.accountDeletionEnabled,
      emailChangeEnabled: config.mail.deliverable,
      allowLoginAttempt: limits.allowLoginAttempt,
      secondFactors,
      passkeys: pagePasskeys,
    },
    playground: config.playgroundEnabled
      ? {
          clients: createPlaygroundClients({ clients, store: playground, issuer: config.issuer }),
          store: playground,
          apis: apis.store,
          csrf,
          issuer: config.issuer,
        }
      : undefined,
    engineGuards: [limits.tokenRequestLimit, device.codeEntryLimit, device.resumeCookieCheck],
    observeRequest: metrics.observeRequest,
    // Only when asked (METRICS_PORT = PORT): the sign-in counters tell which emails have accounts.
    extraRoutes: config.metrics === 'public' ? [metrics.routes()] : [],
  });
  app.keys = keys.cookieSigner;

  // Rotates the keys when they are due (KEY_ROTATION_DAYS; of several nodes finding it due, the
  // first rotates and the others see fresh keys inside the lock), then picks up whatever another
  // node or `latchkey keys rotate` changed, without a restart.
  const rotationSeconds = config.keys.rotationDays * 86_400;
  async function refreshKeys() {
    let latest = await loadKeyMaterial(keyStore, box, config.cookieKeys);
    if (rotationSeconds > 0 && Date.now() - latest.oldestActivation.getTime() >= rotationSeconds * 1000) {
      const publishRetiredSeconds = retiredKeyPublishSeconds(
        config.ttl,
        (await apis.store.list()).map((api) => api.access_token_ttl),
      );
      const rotated = await rotateKeys(pool, box, {
        publishRetiredSeconds,
        cookieGraceSeconds: config.ttl.session,
        ifActiveOlderThanSeconds: rotationSeconds,
      });
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
  const keyWatch = every(
    config.keys.reloadIntervalMs,
    refreshKeys,
    backgroundFailure('key.reload_failed', 'could not reload or rotate keys'),
  );
  // Expired codes, tokens and sessions; with several nodes one sweeps per round (advisory lock).
  const janitor =
    config.janitorIntervalSeconds > 0
      ? every(
          config.janitorIntervalSeconds * 1000,
          async () => {
            const removed = await sweepExpired(pool, log);
            if (removed) metrics.janitorRemoved.inc(removed);
            const retained = await sweepRetained();
            if (Object.values(retained).some((count) => count > 0))
              log.info(
                { event: 'janitor.retained_swept', ...retained },
                'old mails, links, passkey challenges and playground runs removed',
              );
          },
          backgroundFailure('janitor.failed', 'could not sweep expired rows'),
        )
      : undefined;
  // Mail from the outbox: every node sends, each mail claimed by one (FOR UPDATE SKIP LOCKED). In
  // production without SMTP_URL there is no sender: mails wait in the outbox for one.
  const sender = mailSender(log, { metrics, audit });
  const mailRun = sender
    ? every(
        MAIL_POLL_MS,
        async () => {
          await sender.sendDue();
        },
        backgroundFailure('mail.send_failed', 'could not send mail from the outbox'),
      )
    : undefined;
  // What was left by a stopped or crashed predecessor goes now, not at the first poll.
  mailRun?.now();
  const rateLimitSweep = setInterval(() => {
    limits.sweep().catch(backgroundFailure('rate_limit.sweep_failed', 'could not sweep rate limit counters'));
  }, RATE_LIMIT_SWEEP_MS);
  rateLimitSweep.unref();

  const server = http.createServer(app.callback());
  const drain = drainOnClose(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  // A cluster worker binds a socket of its own (SO_REUSEPORT) where the runtime can, so the
  // kernel balances connections and resets those queued for a worker that dies. Handed out by
  // the primary instead (round-robin), a connection accepted just as a worker died waits forever.
  if (options.worker && kernelBalancing(config.port))
    server.listen({ port: config.port, host: config.host, exclusive: true, reusePort: true });
  else server.listen(config.port, config.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw cannotListen(config.port, config.host, err);
  }
  const { port } = server.address() as AddressInfo;
  let metricsServer: http.Server | undefined;
  // In a cluster every worker listens on METRICS_PORT too: node:cluster shares the port (the
  // primary accepts and hands connections out; port 0 is one port for all), and whichever worker
  // answers reports the sum of all (observability/cluster-metrics.ts).
  if (typeof config.metrics === 'object') {
    const { port: metricsPort, host: metricsHost } = config.metrics;
    const listening = http.createServer(metrics.listener(log)).listen(metricsPort, metricsHost);
    try {
      await once(listening, 'listening');
    } catch (err) {
      server.close();
      throw new Error(
        `cannot listen on METRICS_PORT ${metricsPort} (METRICS_HOST ${metricsHost}): ${(err as Error).message}; set another METRICS_PORT, or METRICS_PORT=off`,
        { cause: err },
      );
    }
    metricsServer = listening;
  }
  // Until this connection listens, the cache reads through to the database.
  const clientChanges =
    config.clientCacheSeconds > 0
      ? listenForChanges({
          connection: pool.options,
          caches: {
            [CLIENTS_CHANNEL]: clientCache,
            [APIS_CHANNEL]: apiCache,
            // Keys changed (or notifications were lost while reconnecting): reload now rather than at the next poll.
            [KEYS_CHANNEL]: { invalidate: keyWatch.now, trust: keyWatch.now, distrust() {} },
            // A mail was queued (or notifications were lost): send now.
            ...(mailRun ? { [MAIL_CHANNEL]: { invalidate: mailRun.now, trust: mailRun.now, distrust() {} } } : {}),
          },
          log,
          outage,
        })
      : undefined;
  const metricsPort = metricsServer ? (metricsServer.address() as AddressInfo).port : undefined;
  log.info(
    {
      event: 'server.listening',
      port,
      metrics_port: metricsPort,
      issuer: config.issuer,
      embedded_db: database.embedded,
    },
    `Latchkey listening on ${config.issuer}`,
  );

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    database,
    providerRef,
    metricsPort,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        clearInterval(rateLimitSweep);
        const closed = drain(Math.min(DRAIN_WINDOW_MS, graceMs));
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await Promise.all([
          closed,
          keyWatch.stop(),
          janitor?.stop(),
          mailRun?.stop(),
          metricsServer && once(metricsServer.close(), 'close'),
        ]);
        sender?.close();
        clearTimeout(timer);
        outage.stop();
        await clientChanges?.close();
        await database.close();
        log.info({ event: 'server.stopped' }, 'Latchkey stopped');
      })();
      return closing;
    },
  };
}
