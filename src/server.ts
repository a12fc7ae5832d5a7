import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAccounts } from './accounts/accounts.ts';
import { createPasswordHasher } from './accounts/passwords.ts';
import { createAccountStore } from './accounts/store.ts';
import { createApp, type ProviderRef } from './app.ts';
import { createClients } from './clients/clients.ts';
import { createClientStore } from './clients/store.ts';
import type { Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import { openDatabase, resolveSecretKey, type Database } from './db/open.ts';
import { createCsrf } from './interactions/forms.ts';
import { createProviderPages } from './interactions/pages.ts';
import { createViews } from './interactions/views.ts';
import { createAuditStore } from './observability/audit-store.ts';
import type { Logger } from './observability/logger.ts';
import { createAdapterFactory } from './oidc/adapter.ts';
import { createApiResourceStore } from './oidc/api-resource-store.ts';
import { createKeyStore } from './oidc/key-store.ts';
import { ensureKeys, loadKeyMaterial, type KeyMaterial } from './oidc/keys.ts';
import { createPayloadStore } from './oidc/payload-store.ts';
import { createProvider } from './oidc/provider.ts';
import { createSecretBox } from './secret-box.ts';

export interface RunningServer {
  /** Base URL the server listens on (http://127.0.0.1:port). */
  url: string;
  port: number;
  database: Database;
  providerRef: ProviderRef;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), closes the pool and the embedded database. */
  close(graceMs?: number): Promise<void>;
}

/** How often a node checks whether another node rotated the keys. */
const KEY_POLL_MS = 10_000;

/**
 * The registry: builds every part once, wires them, and listens. Nothing below reads the
 * environment; everything arrives through `config`.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const database = await openDatabase(config, log, { adoptEmbedded: true });
  try {
    return await listen(config, log, database);
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}

async function listen(config: Config, log: Logger, database: Database): Promise<RunningServer> {
  const { pool } = database;
  await migrate(pool, log);
  const secretKey = await resolveSecretKey(config, log);
  const box = createSecretBox(secretKey);
  await ensureKeys(pool, box);

  const keyStore = createKeyStore(pool);
  const payloads = createPayloadStore(pool);
  const accountStore = createAccountStore(pool);
  const accounts = createAccounts({
    store: accountStore,
    passwords: createPasswordHasher({ memoryKib: config.argon2.memoryKib, iterations: config.argon2.iterations }),
    lockout: config.lockout,
  });
  const clients = createClients({ store: createClientStore(pool), box });
  const apis = createApiResourceStore(pool);
  const audit = createAuditStore(pool);
  const views = createViews({ brand: config.brand, themeDir: config.themeDir });
  const pages = createProviderPages(views);
  const adapter = createAdapterFactory({ payloads, clients, box });

  const buildProvider = (keys: KeyMaterial) => createProvider({ config, adapter, keys, accounts: accountStore, apis, grants: payloads, pages, log });
  let keys = await loadKeyMaterial(keyStore, box, config.cookieKeys);
  const providerRef: ProviderRef = { current: buildProvider(keys) };

  const app = createApp({
    config, pool, providerRef, views, log,
    interactions: { accounts, accountStore, audit, csrf: createCsrf(secretKey) },
  });
  app.keys = keys.cookieKeys;

  // Another node (or `latchkey keys rotate`) may change the keys: pick them up without a restart.
  const keyPoll = setInterval(() => {
    loadKeyMaterial(keyStore, box, config.cookieKeys).then((latest) => {
      if (latest.fingerprint === keys.fingerprint) return;
      keys = latest;
      providerRef.current = buildProvider(latest);
      app.keys = latest.cookieKeys;
      log.info({ event: 'key.reloaded' }, 'signing or cookie keys changed: reloaded');
    }).catch((err: unknown) => log.warn({ event: 'key.reload_failed', err }, 'could not reload keys'));
  }, KEY_POLL_MS);
  keyPoll.unref();

  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  log.info({ event: 'server.listening', port, issuer: config.issuer, embedded_db: database.embedded }, `Latchkey listening on ${config.issuer}`);

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    database,
    providerRef,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        clearInterval(keyPoll);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearTimeout(timer);
        await database.close();
        log.info({ event: 'server.stopped' }, 'Latchkey stopped');
      })();
      return closing;
    },
  };
}
