import { createAccounts } from '../accounts/accounts.ts';
import { createPasswordHasher } from '../accounts/passwords.ts';
import { createAccountStore } from '../accounts/store.ts';
import { createClients } from '../clients/clients.ts';
import { createClientStore } from '../clients/store.ts';
import { loadConfig, type Config } from '../config.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase, resolveSecretKey, type Database } from '../db/open.ts';
import { createAuditStore } from '../observability/audit-store.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createApiResourceStore } from '../oidc/api-resource-store.ts';
import { createApiResources } from '../oidc/api-resources.ts';
import { createKeyStore } from '../oidc/key-store.ts';
import { ensureKeys } from '../oidc/keys.ts';
import { createPayloadStore } from '../oidc/payload-store.ts';
import { createSecretBox, type SecretBox } from '../secret-box.ts';

/** What CLI commands work with: the same stores and services the server builds, over the same database. */
export interface CliContext {
  config: Config;
  log: Logger;
  database: Database;
  /** Migrations this invocation applied on opening the database (every command migrates first). */
  migrated: string[];
  box: SecretBox;
  accounts: ReturnType<typeof createAccounts>;
  clients: ReturnType<typeof createClients>;
  apis: ReturnType<typeof createApiResources>;
  keys: ReturnType<typeof createKeyStore>;
  payloads: ReturnType<typeof createPayloadStore>;
  audit: ReturnType<typeof createAuditStore>;
}

export async function openCliContext(env: Record<string, string | undefined>): Promise<CliContext> {
  const config = loadConfig(env);
  // Logs go to stderr so --json output on stdout stays parseable; quiet unless asked.
  const log = createLogger({ level: env.LOG_LEVEL ?? 'warn', stderr: true });
  const database = await openDatabase(config, log);
  try {
    const { pool } = database;
    const { applied: migrated } = await migrate(pool, log);
    const box = createSecretBox(await resolveSecretKey(config, log));
    await ensureKeys(pool, box);
    const accountStore = createAccountStore(pool);
    return {
      config, log, database, migrated, box,
      accounts: createAccounts({
        store: accountStore,
        passwords: createPasswordHasher({ memoryKib: config.argon2.memoryKib, iterations: config.argon2.iterations }),
        lockout: config.lockout,
      }),
      clients: createClients({ store: createClientStore(pool), box }),
      apis: createApiResources(createApiResourceStore(pool), { accessTokenTtl: config.ttl.accessToken }),
      keys: createKeyStore(pool),
      payloads: createPayloadStore(pool),
      audit: createAuditStore(pool),
    };
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}
