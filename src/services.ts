import { availableParallelism } from 'node:os';
import { createAccountPageStore } from './account/store.ts';
import { type AccountTransaction, createAccounts } from './accounts/accounts.ts';
import { createPasswordRules } from './accounts/password-rules.ts';
import { createPasswordHasher } from './accounts/passwords.ts';
import { createSelfService } from './accounts/self-service.ts';
import { createAccountStore } from './accounts/store.ts';
import { createAccountTokenStore } from './accounts/token-store.ts';
import { createAuditStore } from './audit/store.ts';
import { createClients } from './clients/clients.ts';
import { createClientStore } from './clients/store.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/open.ts';
import { type Pool, withTransaction } from './db/pool.ts';
import { createOutboxStore } from './mail/outbox-store.ts';
import { createMailRenderer } from './mail/render.ts';
import { createMailSender, type MailSenderDeps } from './mail/sender.ts';
import { createMailTransport } from './mail/transport.ts';
import { createFactorStore } from './mfa/factor-store.ts';
import { createPasskeys } from './mfa/passkeys.ts';
import { createSecondFactors } from './mfa/second-factors.ts';
import type { Logger } from './observability/logger.ts';
import { createApiResourceStore } from './oidc/api-resource-store.ts';
import { createApiResources } from './oidc/api-resources.ts';
import { createConsentStore } from './oidc/consent-store.ts';
import { createKeyStore } from './oidc/key-store.ts';
import { createPayloadStore } from './oidc/payload-store.ts';
import { createPlaygroundStore } from './playground/store.ts';
import { prepareDatabase, resolveSecretKey } from './prepare-database.ts';
import { createSecretBox } from './secret-box.ts';

/**
 * An account's sessions and grants live in the provider's storage (oidc_payloads); what changes an
 * account together with them runs in one transaction over both stores (accounts.ts).
 */
export function accountTransaction(db: Pool) {
  return <T>(work: (tx: AccountTransaction) => Promise<T>): Promise<T> =>
    withTransaction(db, (client) => work({ store: createAccountStore(client), sessions: createPayloadStore(client) }));
}

/**
 * The stores and services over one database, built once: the server wires them into the engine and
 * the pages, every CLI command works with the same ones, and the tests arrange users, clients and
 * APIs through them. What only serving needs (caches, rate limits, metrics, the engine) the server
 * builds on top.
 */
export function createServices(deps: {
  config: Pick<
    Config,
    'argon2' | 'lockout' | 'ttl' | 'env' | 'issuer' | 'brand' | 'themeDir' | 'mail' | 'passwordMinLength' | 'flows'
  >;
  db: Pool;
  secretKey: string;
  /** Hashes at a time (argon2id); default one per core. */
  passwordConcurrency?: number | undefined;
}) {
  const { config, db } = deps;
  const box = createSecretBox(deps.secretKey);
  const outbox = createOutboxStore(db, box);
  const mailRenderer = createMailRenderer({ issuer: config.issuer, brand: config.brand, themeDir: config.themeDir });
  const factors = createFactorStore(db);
  const accounts = createAccounts({
    store: createAccountStore(db),
    claimAttempt: factors.claimSignIn,
    passwords: createPasswordHasher({
      memoryKib: config.argon2.memoryKib,
      iterations: config.argon2.iterations,
      concurrency: deps.passwordConcurrency,
    }),
    rules: createPasswordRules({ minLength: config.passwordMinLength }),
    lockout: config.lockout,
    transaction: accountTransaction(db),
  });
  const payloads = createPayloadStore(db);
  const accountTokens = createAccountTokenStore(db);
  const accountPages = createAccountPageStore(db);
  const audit = createAuditStore(db);
  const issuer = new URL(config.issuer);
  const playground = createPlaygroundStore(db, box);
  return {
    box,
    accounts,
    /**
     * Forgot password, invitations and email verification: one-time links (account_tokens) queued
     * with their mails in one transaction; passwords set as `users set-password` sets them.
     */
    selfService: createSelfService({
      pool: db,
      accounts,
      mail: (client) => createOutboxStore(client, box),
      settings: { resetTtlSeconds: config.flows.resetTtlSeconds, inviteTtlSeconds: config.flows.inviteTtlSeconds },
    }),
    /** The one-time links (the janitor sweeps used and expired ones). */
    accountTokens,
    /** The account page's sessions list (the browser behind each session). */
    accountPages,
    /**
     * Passkeys (mfa/passkeys.ts): the relying party is the issuer's host (RP ID) and origin, named
     * as the brand; a passkey registered under one ISSUER host does not work under another.
     */
    passkeys: createPasskeys({
      factors,
      accounts: accounts.store,
      rp: { id: issuer.hostname, origin: issuer.origin, name: config.brand.name },
    }),
    /**
     * The janitor's work besides expired protocol rows (oidc/janitor.ts): sent and failed mails past
     * their retention, one-time links a day past their use or expiry, expired passkey challenges.
     * Each is an idempotent bounded DELETE, safe on several nodes at once.
     */
    async sweepRetained(
      batch?: number,
    ): Promise<{ mails: number; links: number; challenges: number; playground_runs: number }> {
      return {
        mails: await outbox.sweep(batch),
        links: await accountTokens.sweep(batch),
        challenges: await factors.sweepChallenges(batch),
        playground_runs: await playground.sweep(batch),
      };
    },
    /** The playground's clients and its runs between steps (expired runs go with sweepRetained). */
    playground,
    clients: createClients({ store: createClientStore(db), box }),
    apis: createApiResources(createApiResourceStore(db), { accessTokenTtl: config.ttl.accessToken }),
    /** The signing and cookie keys (rows); oidc/keys.ts turns them into key material. */
    keys: createKeyStore(db),
    payloads,
    consents: createConsentStore(db),
    audit,
    /** Authenticator apps and recovery codes (mfa/): set up on the account page, asked for at sign-in. */
    secondFactors: createSecondFactors({ pool: db, box, accounts, audit, issuerName: config.brand.name }),
    /**
     * The mail outbox over the pool. To queue a mail with the token it carries, build one over the
     * transaction's client instead: `createOutboxStore(client, services.box).enqueue(...)`.
     */
    outbox,
    mailRenderer,
    /**
     * A sender over this outbox with the transport the settings ask for (SMTP_URL; the log in
     * development), or undefined in production without SMTP_URL. The server runs one on a timer;
     * `latchkey mail send-pending` runs one once.
     */
    mailSender(log: Logger, extras: Pick<MailSenderDeps, 'metrics' | 'audit' | 'retry'> = {}) {
      const transport = createMailTransport(config, log);
      return (
        transport &&
        createMailSender({ outbox, renderer: mailRenderer, transport, from: config.mail.from, log, ...extras })
      );
    },
  };
}
export type Services = ReturnType<typeof createServices>;

/**
 * Who opens the database: the server (a single process; it also adopts an embedded PostgreSQL
 * left running by a crashed predecessor), a cluster worker (the preparing child has prepared the
 * database, the primary owns the embedded PostgreSQL) or a CLI command (stops only what it started
 * itself).
 */
export type Role = 'server' | 'cluster-worker' | 'cli';

/**
 * Opens the database, prepares it (prepare-database.ts) unless the cluster's preparing child has, and
 * builds the services. Closes the database again when any of that fails.
 */
export async function openServices(
  config: Config,
  log: Logger,
  role: Role,
): Promise<{
  database: Database;
  secretKey: string;
  /** Migrations applied on opening (none for a cluster worker). */
  migrated: string[];
  services: Services;
}> {
  const database = await openDatabase(config, log, { adoptEmbedded: role === 'server' });
  try {
    const { secretKey, migrated } =
      role === 'cluster-worker'
        ? { secretKey: await resolveSecretKey(config, log), migrated: [] }
        : await prepareDatabase(database.pool, config, log);
    const services = createServices({
      config,
      db: database.pool,
      secretKey,
      // A cluster worker shares the cores with WEB_CONCURRENCY - 1 others: it hashes its share at a
      // time (one, by default), so a login burst neither oversubscribes the CPU nor holds several
      // 19 MiB buffers per worker. A single process uses every core.
      passwordConcurrency:
        role === 'cluster-worker' ? Math.max(1, Math.floor(availableParallelism() / config.webConcurrency)) : undefined,
    });
    return { database, secretKey, migrated, services };
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}
