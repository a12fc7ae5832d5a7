import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
const flagValue = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
const flag = (fallback: boolean) => flagValue.default(fallback);

/**
 * Every setting Latchkey reads, with its default and why. This schema is the single source:
 * README's configuration table lists the same keys (a test checks it).
 */
export const ConfigSchema = z.object({
  /** `development` or `production`. Production refuses unsafe defaults (http issuer, generated secrets). Default development. */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** TCP port for HTTP. Default 3000. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Address to bind. Default 0.0.0.0 (all interfaces), as a container needs. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Public issuer URL, without a trailing slash. Default http://localhost:$PORT; must be https in production. */
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  /** PostgreSQL URL. Unset: an embedded PostgreSQL under LATCHKEY_DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Connections per process in the PostgreSQL pool. Default 10. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /**
   * Server processes, one per core: a primary forks this many workers sharing the port (node:cluster).
   * 1 runs a single process. Default: the number of cores (os.availableParallelism()).
   */
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  /**
   * Seconds a node may serve a client's or an API's settings from memory. Changes reach every node
   * at once through LISTEN/NOTIFY; this only bounds staleness if that fails. 0 reads the database every time. Default 300.
   */
  CLIENT_CACHE_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
  /** Milliseconds to wait for a pooled connection before failing the request with 503. Default 5000. */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  /** Folder for local state: the embedded PostgreSQL and the generated secret key. Default ./.data. */
  LATCHKEY_DATA_DIR: z.string().min(1).default('.data'),
  /**
   * Key that encrypts private signing keys, cookie keys and client secrets at rest (32+ characters).
   * Unset in development: generated once into LATCHKEY_DATA_DIR/secret-key. Required in production.
   */
  LATCHKEY_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Comma-separated cookie signing keys, newest first. Unset: generated, stored encrypted in the database, shared by every node. */
  COOKIE_KEYS: z
    .string()
    .optional()
    .transform((value) =>
      value
        ?.split(',')
        .map((key) => key.trim())
        .filter(Boolean),
    )
    .refine(
      (keys) => keys === undefined || keys.every((key) => key.length >= 32),
      'each key must be at least 32 characters',
    ),
  /** Trust X-Forwarded-* headers (set when behind a TLS-terminating proxy). Default false. */
  TRUST_PROXY: flag(false),
  /**
   * With TRUST_PROXY: how many proxies in front append to X-Forwarded-For. The client address is
   * the entry that many from the right; entries further left are whatever the client sent, so
   * trusting them would let anyone choose their address for rate limits and audit. Default 1.
   */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(1).max(10).default(1),
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Log format: json, pretty, or auto (pretty on a terminal, JSON otherwise). Default auto. */
  LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  /**
   * Port of the metrics listener (GET /metrics, Prometheus text), on METRICS_HOST. Default 9464.
   * Never on the public port unless asked: the sign-in counters move only for real accounts
   * (locked, disabled), so a public /metrics would tell which emails have accounts. Set explicitly
   * to the same number as PORT, it asks for /metrics on the public port; left unset while PORT is
   * 9464 it is refused at start (the default must never make metrics public); `off` serves none;
   * 0 takes any free port (tests).
   */
  METRICS_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).optional(),
  /**
   * Address of the metrics listener. Default 127.0.0.1: only this machine scrapes. In a container,
   * 0.0.0.0 with the port left unpublished (docker-compose.yml) lets the internal network scrape.
   */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Days a signing key signs before the next one takes over (checked by every node; one rotates). 0: never automatically. Default 30. */
  KEY_ROTATION_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  /**
   * Milliseconds between checks for a due rotation and for keys changed elsewhere. Changes normally
   * arrive at once through LISTEN/NOTIFY; this poll also covers a missed notification. Default 10000.
   */
  KEY_RELOAD_INTERVAL_MS: z.coerce.number().int().min(100).max(30_000).default(10_000),
  /** Seconds between sweeps of expired tokens, codes and sessions (one node sweeps at a time). 0: never (run `latchkey janitor`). Default 600. */
  JANITOR_INTERVAL: z.coerce.number().int().min(0).max(86400).default(600),
  /** Access token lifetime in seconds. Default 3600 (1 hour). */
  ACCESS_TOKEN_TTL: seconds(3600),
  /** Refresh token lifetime in seconds; each rotation starts a new one. Default 1209600 (14 days). */
  REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
  /**
   * Seconds after a refresh during which the same refresh token, presented again by the same
   * client, rotates once more (new tokens; those of the first rotation are revoked) instead of
   * revoking the grant as a replay. For clients whose refresh response can be lost (a worker or a
   * network dying mid-response). Default 0 (off): any reuse revokes the grant. The trade-off: a
   * copied refresh token used within this window gets tokens and ends the client's chain instead
   * of being detected. Okta and Hydra offer the same window.
   */
  REFRESH_TOKEN_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(0),
  /** Authorization code lifetime in seconds (at most 60, RFC 9700 §4.2). Default 60. */
  AUTHORIZATION_CODE_TTL: z.coerce.number().int().min(1).max(60).default(60),
  /** ID token lifetime in seconds. Default 3600. */
  ID_TOKEN_TTL: seconds(3600),
  /** Sign-in session lifetime in seconds. Default 1209600 (14 days). */
  SESSION_TTL: seconds(14 * 24 * 3600),
  /** Login/consent interaction lifetime in seconds. Default 3600. */
  INTERACTION_TTL: seconds(3600),
  /** argon2id memory in KiB. Default 19456 (OWASP minimum); raise it if logins/s allow. */
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456).default(19456),
  /** argon2id iterations. Default 2 (OWASP with 19 MiB). */
  ARGON2_ITERATIONS: z.coerce.number().int().min(2).default(2),
  /**
   * Fewest characters in a new password (NIST SP 800-63B: at least 8, no composition rules; the
   * most common passwords are refused whatever their length). Default 8.
   */
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(64).default(8),
  /**
   * Whether people may delete their own account from the account page (with their password).
   * Default true (GDPR art. 17); turn off where accounts are managed centrally.
   */
  ACCOUNT_DELETION_ENABLED: flag(true),
  /** Sign-in attempts without a success that lock an account (counted before the password is checked). Default 10. */
  LOCKOUT_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(10),
  /** First lock duration in seconds; each further lock doubles it (capped at a day). Default 900 (15 minutes). */
  LOCKOUT_SECONDS: z.coerce.number().int().min(1).max(86400).default(900),
  /**
   * Password attempts per minute from one client address (an IPv6 /64 counts as one), across all
   * nodes. 0: no limit. Default 60: an office behind one address signing in together passes (sessions
   * last SESSION_TTL, so people rarely sign in at the same minute), while a password sprayer
   * gets one guess a second, each of which also counts toward that account's lockout.
   */
  RATE_LIMIT_LOGIN_PER_MINUTE: z.coerce.number().int().min(0).max(100_000).default(60),
  /**
   * Token endpoint requests per minute from one client address, across all nodes. 0: no limit.
   * Default 6000 (100/s): a busy backend that redeems codes and refreshes tokens for all its
   * users from one address passes; a runaway retry loop or a flood is cut off with 429.
   */
  RATE_LIMIT_TOKEN_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(6000),
  /**
   * Dynamic client registration (RFC 7591) at /register and its management (RFC 7592). Registering
   * needs an initial access token from `latchkey clients initial-access-token`. Default false.
   */
  REGISTRATION_ENABLED: flag(false),
  /**
   * Let the server's own outgoing requests (back-channel logout tokens, a client's jwks_uri) reach
   * loopback addresses (127.0.0.0/8, ::1, localhost), for development and tests. Other private and
   * special-use addresses stay refused (SSRF protection). Refused in production. Default false.
   */
  ALLOW_LOOPBACK_OUTBOUND: flag(false),
  /**
   * Where mail goes: `smtp://user:pass@host:587` (upgraded with STARTTLS when the server offers it)
   * or `smtps://user:pass@host:465` (TLS from the start). Unset in development: mails are written
   * to the log (recipient, subject, links) and kept for `latchkey mail list`. In production a
   * feature that sends mail (mailRequired) needs it. Default: unset.
   */
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional(),
  /**
   * Sender of every mail, `Name <address>` or an address. Default `<BRAND_NAME> <no-reply@<issuer's
   * host>>`: a domain the operator controls, so receiving servers can check it (SPF, DKIM).
   */
  MAIL_FROM: z
    .string()
    .max(200)
    .refine(
      (value) => /^[^<>\r\n]*<[^<>@\s]+@[^<>@\s]+>$|^[^<>@\s]+@[^<>@\s]+$/.test(value.trim()),
      'must be an address (no-reply@example.com) or Name <address>',
    )
    .optional(),
  /**
   * "Forgot password?" on the sign-in page: a one-time link by mail to choose a new password.
   * Default: on wherever its mail can leave (SMTP_URL set, or outside production, where mail goes
   * to the log), so a production deployment without mail keeps starting as before. Set true in
   * production without SMTP_URL and the start is refused; set false where operators reset
   * passwords (`users set-password`).
   */
  PASSWORD_RESET_ENABLED: flagValue.optional(),
  /**
   * Seconds a password reset link works (once). Default 1800 (30 minutes): long enough to open the
   * mail, short enough that an old mail in a mailbox is no key. A newer request or any password
   * change voids older links.
   */
  PASSWORD_RESET_TTL: z.coerce.number().int().min(60).max(86_400).default(1800),
  /**
   * "Create account" on the sign-in page: anyone may sign up with a name, an email and a password.
   * Default false: an identity provider for a company's staff or an app's known users should not
   * take strangers. It sends mail (verification), so in production it needs SMTP_URL.
   */
  SIGNUP_ENABLED: flag(false),
  /**
   * A signed-up account must confirm its address (the mailed link) before any sign-in completes.
   * Default true: otherwise anyone can hold an account in someone else's name.
   */
  SIGNUP_REQUIRE_VERIFIED_EMAIL: flag(true),
  /**
   * Every sign-in needs a second factor (an authenticator app; passkeys count too): a person
   * without one sets up an authenticator app during sign-in, before the app gets a code. Default
   * false: apps that need it ask per client (`clients create/update --require-mfa`) or per request
   * (`acr_values=urn:latchkey:acr:mfa`).
   */
  MFA_REQUIRED: flag(false),
  /** Seconds an invitation link (`users invite`) works (once). Default 604800 (7 days). */
  INVITE_TTL: z.coerce
    .number()
    .int()
    .min(300)
    .max(90 * 86_400)
    .default(7 * 86_400),
  /** Folder whose .ejs files replace the built-in templates of the same name (login, consent, error, layout, ...). Default: none. */
  THEME_DIR: z.string().min(1).optional(),
  /** Product name shown on the pages. Default Latchkey. */
  BRAND_NAME: z.string().min(1).max(60).default('Latchkey'),
  /** Logo URL shown on the pages. Default: none. */
  BRAND_LOGO_URL: z.url().optional(),
  /** Primary colour of the pages, #rrggbb. Default #3346d3. */
  BRAND_PRIMARY_COLOR: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'must be a #rrggbb colour')
    .default('#3346d3'),
  /**
   * Serve /playground, the authorization code flow run step by step against this server (with
   * clients of its own, created on first use). Default: on outside production, off in production;
   * off, /playground is a 404 like any unknown path.
   */
  PLAYGROUND_ENABLED: flagValue.optional(),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  issuer: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databaseConnectTimeoutMs: number;
  webConcurrency: number;
  clientCacheSeconds: number;
  dataDir: string;
  secretKey: string | undefined;
  cookieKeys: string[] | undefined;
  trustProxy: boolean;
  trustProxyHops: number;
  logLevel: string;
  logFormat: 'json' | 'pretty' | 'auto';
  /** Where /metrics is served: its own listener, the public port (METRICS_PORT = PORT), or nowhere. */
  metrics: { port: number; host: string } | 'public' | 'off';
  keys: { rotationDays: number; reloadIntervalMs: number };
  janitorIntervalSeconds: number;
  ttl: {
    accessToken: number;
    refreshToken: number;
    authorizationCode: number;
    idToken: number;
    session: number;
    interaction: number;
  };
  refreshTokenReuseGraceSeconds: number;
  argon2: { memoryKib: number; iterations: number };
  lockout: { threshold: number; lockSeconds: number };
  passwordMinLength: number;
  accountDeletionEnabled: boolean;
  /** MFA_REQUIRED: every sign-in needs a second factor. */
  mfaRequired: boolean;
  rateLimit: { loginPerMinute: number; tokenPerMinute: number };
  registrationEnabled: boolean;
  allowLoopbackOutbound: boolean;
  themeDir: string | undefined;
  brand: { name: string; logoUrl: string | undefined; primaryColor: string };
  /** The person's own flows by mail (PASSWORD_RESET_*, INVITE_TTL, SIGNUP_*). */
  flows: {
    resetEnabled: boolean;
    resetTtlSeconds: number;
    inviteTtlSeconds: number;
    signUpEnabled: boolean;
    signUpRequiresVerifiedEmail: boolean;
  };
  /** SMTP_URL (undefined: the development log, or no delivery in production) and the From header. */
  mail: {
    smtpUrl: string | undefined;
    from: string;
    /** Whether a mail can leave: SMTP_URL is set, or outside production (the log). Flows that need mail show only then. */
    deliverable: boolean;
  };
  /** Whether /playground is served (PLAYGROUND_ENABLED; default: outside production). */
  playgroundEnabled: boolean;
}

/**
 * The features that are on and send mail (their setting names). In production each needs
 * SMTP_URL: without it their mails would never leave, so the start is refused. A feature that
 * mails adds its check here.
 */
export function mailRequired(config: Config): string[] {
  // [setting, whether it is on].
  const features: Array<[setting: string, on: boolean]> = [
    ['PASSWORD_RESET_ENABLED', config.flows.resetEnabled],
    ['SIGNUP_ENABLED', config.flows.signUpEnabled],
  ];
  return features.filter(([, on]) => on).map(([setting]) => setting);
}

/** METRICS_PORT when unset (the Prometheus exporters' customary port). */
const DEFAULT_METRICS_PORT = 9464;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A setting that is allowed but risky in the way it is combined; logged once at start. */
export interface ConfigWarning {
  setting: string;
  message: string;
}

const ALL_INTERFACES = new Set(['0.0.0.0', '::', '[::]']);

/** Combinations of settings that work but that an operator should know the risk of. */
export function configWarnings(config: Config): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  // Forwarded headers are believed from whoever connects: on every interface that can be anyone
  // who reaches the port directly, past the proxy, choosing the address rate limits count under.
  if (config.trustProxy && ALL_INTERFACES.has(config.host)) {
    warnings.push({
      setting: 'TRUST_PROXY',
      message: `TRUST_PROXY=true while listening on all interfaces (HOST=${config.host}): anyone who reaches port ${config.port} directly can forge X-Forwarded-For and X-Forwarded-Proto; let only the proxy reach it (firewall, private network) or bind HOST to the proxy-facing address`,
    });
  }
  return warnings;
}

/** Builds the Config from an environment. Throws ConfigError whose message is one line per problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = ConfigSchema.safeParse(defined);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ConfigError(lines.join('\n'));
  }
  const c = parsed.data;
  const issuer = (c.ISSUER ?? `http://localhost:${c.PORT}`).replace(/\/+$/, '');
  if (c.NODE_ENV === 'production') {
    const problems: string[] = [];
    if (!issuer.startsWith('https://')) problems.push('config: ISSUER: must be an https URL in production');
    if (!c.LATCHKEY_SECRET_KEY) problems.push('config: LATCHKEY_SECRET_KEY: required in production');
    if (c.ALLOW_LOOPBACK_OUTBOUND) problems.push('config: ALLOW_LOOPBACK_OUTBOUND: not allowed in production');
    if (problems.length) throw new ConfigError(problems.join('\n'));
  }
  const metricsPort = c.METRICS_PORT ?? DEFAULT_METRICS_PORT;
  if (c.METRICS_PORT === undefined && c.PORT === DEFAULT_METRICS_PORT) {
    throw new ConfigError(
      `config: METRICS_PORT: unset, so ${DEFAULT_METRICS_PORT}, the same as PORT; set it to another port, to off, ` +
        `or to ${DEFAULT_METRICS_PORT} to serve /metrics on the public port`,
    );
  }
  const deliverable = c.SMTP_URL !== undefined || c.NODE_ENV !== 'production';
  const config: Config = {
    env: c.NODE_ENV,
    port: c.PORT,
    host: c.HOST,
    issuer,
    databaseUrl: c.DATABASE_URL,
    databasePoolSize: c.DATABASE_POOL_SIZE,
    databaseConnectTimeoutMs: c.DATABASE_CONNECT_TIMEOUT_MS,
    webConcurrency: c.WEB_CONCURRENCY ?? availableParallelism(),
    clientCacheSeconds: c.CLIENT_CACHE_SECONDS,
    dataDir: path.resolve(c.LATCHKEY_DATA_DIR),
    secretKey: c.LATCHKEY_SECRET_KEY,
    cookieKeys: c.COOKIE_KEYS,
    trustProxy: c.TRUST_PROXY,
    trustProxyHops: c.TRUST_PROXY_HOPS,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    metrics:
      metricsPort === 'off'
        ? 'off'
        : metricsPort === c.PORT && c.PORT !== 0
          ? 'public'
          : { port: metricsPort, host: c.METRICS_HOST },
    keys: { rotationDays: c.KEY_ROTATION_DAYS, reloadIntervalMs: c.KEY_RELOAD_INTERVAL_MS },
    janitorIntervalSeconds: c.JANITOR_INTERVAL,
    ttl: {
      accessToken: c.ACCESS_TOKEN_TTL,
      refreshToken: c.REFRESH_TOKEN_TTL,
      authorizationCode: c.AUTHORIZATION_CODE_TTL,
      idToken: c.ID_TOKEN_TTL,
      session: c.SESSION_TTL,
      interaction: c.INTERACTION_TTL,
    },
    refreshTokenReuseGraceSeconds: c.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
    argon2: { memoryKib: c.ARGON2_MEMORY_KIB, iterations: c.ARGON2_ITERATIONS },
    lockout: { threshold: c.LOCKOUT_THRESHOLD, lockSeconds: c.LOCKOUT_SECONDS },
    passwordMinLength: c.PASSWORD_MIN_LENGTH,
    accountDeletionEnabled: c.ACCOUNT_DELETION_ENABLED,
    rateLimit: { loginPerMinute: c.RATE_LIMIT_LOGIN_PER_MINUTE, tokenPerMinute: c.RATE_LIMIT_TOKEN_PER_MINUTE },
    registrationEnabled: c.REGISTRATION_ENABLED,
    mfaRequired: c.MFA_REQUIRED,
    allowLoopbackOutbound: c.ALLOW_LOOPBACK_OUTBOUND,
    themeDir: c.THEME_DIR ? path.resolve(c.THEME_DIR) : undefined,
    brand: { name: c.BRAND_NAME, logoUrl: c.BRAND_LOGO_URL, primaryColor: c.BRAND_PRIMARY_COLOR },
    flows: {
      resetEnabled: c.PASSWORD_RESET_ENABLED ?? deliverable,
      resetTtlSeconds: c.PASSWORD_RESET_TTL,
      inviteTtlSeconds: c.INVITE_TTL,
      signUpEnabled: c.SIGNUP_ENABLED,
      signUpRequiresVerifiedEmail: c.SIGNUP_REQUIRE_VERIFIED_EMAIL,
    },
    playgroundEnabled: c.PLAYGROUND_ENABLED ?? c.NODE_ENV !== 'production',
    mail: {
      smtpUrl: c.SMTP_URL,
      deliverable,
      // Quoted: a brand name may hold characters with a meaning in an address header (a comma, a dot).
      from: c.MAIL_FROM?.trim() ?? `"${c.BRAND_NAME.replace(/["\\]/g, '')}" <no-reply@${new URL(issuer).hostname}>`,
    },
  };
  if (c.NODE_ENV === 'production' && !config.mail.smtpUrl) {
    const features = mailRequired(config);
    if (features.length)
      throw new ConfigError(
        `config: SMTP_URL: required in production to send the mails of ${features.join(', ')} (or set ${features.map((f) => `${f}=false`).join(', ')})`,
      );
  }
  return config;
}
