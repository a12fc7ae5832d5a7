import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { TestContext } from 'node:test';
import * as oidc from 'openid-client';
import pg from 'pg';
import type { ClientInput } from '../../src/clients/clients.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Pool } from '../../src/db/pool.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { createServices } from '../../src/services.ts';
import { formField, UserAgent } from './browser.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const PASSWORD = 'correct horse battery staple';
export const CALLBACK = 'http://127.0.0.1:8765/callback';

/**
 * A port free now for a server a test starts a moment later. Taken below Linux's ephemeral range
 * (32768-60999), where every outgoing connection (pg's to PostgreSQL, fetch's) takes its local port:
 * a port the kernel handed out as free could be taken by such a connection before the server binds
 * it (seen in CI: "address in use"). Parallel tests draw at random, so they seldom meet.
 */
export async function freePort(): Promise<number> {
  const listens = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = net
        .createServer()
        .once('error', () => resolve(undefined))
        .listen(port, '127.0.0.1', () => {
          const { port: bound } = server.address() as net.AddressInfo;
          server.close(() => resolve(bound));
        });
    });
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await listens(20_000 + Math.floor(Math.random() * 12_000));
    if (port !== undefined) return port;
  }
  const port = await listens(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}

export interface TestClient {
  clientId: string;
  clientSecret?: string | undefined;
}

/** What tests arrange on a server: users, clients and APIs written to its database (as the CLI does), and RPs. */
export interface Arrangements {
  clients: { create(input?: Partial<ClientInput>, extra?: Record<string, unknown>): Promise<TestClient> };
  users: {
    create(input?: { email?: string; name?: string; password?: string }): Promise<{ id: string; email: string }>;
  };
  apis: { create(input: { identifier: string; scopes: string[]; accessTokenTtl?: number }): Promise<void> };
  /** An openid-client Configuration for a client of this server (http allowed: tests run on loopback). */
  rp(client: TestClient, auth?: 'basic' | 'post' | 'none'): Promise<oidc.Configuration>;
}

export interface Latchkey extends Arrangements {
  issuer: string;
  config: Config;
  server: RunningServer;
  database: TestDatabase;
  log: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * Start on this database (a restart: pass the first server's `database`, its
   * `config.secretKey` as LATCHKEY_SECRET_KEY and its `server.port`). Every test database is
   * dropped when the test file ends (helpers/database.ts).
   */
  database?: TestDatabase;
  /** Listen on this port, so the issuer stays the same across a restart. Default: a free port. */
  port?: number;
}

/**
 * Starts a real Latchkey server on an ephemeral port against a fresh PostgreSQL database,
 * stopped and dropped when the test ends.
 */
export async function startLatchkey(
  t: TestContext | undefined,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<Latchkey> {
  const borrowed = options.database !== undefined;
  const database = options.database ?? (await createTestDatabase());
  const port = options.port ?? (await freePort());
  // ISSUER may name another host of this loopback server (passkeys need a domain: http://localhost:<port>).
  const issuer = env.ISSUER ?? `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Metrics on a free port of their own: many test servers run at once, and 9464 is taken by the first.
    DATABASE_POOL_SIZE: '5',
    METRICS_PORT: '0',
    ...env,
  });
  const log = createLogger({ level: config.logLevel });
  let server: RunningServer;
  try {
    server = await startServer(config, log);
  } catch (err) {
    if (!borrowed) await database.drop();
    throw err;
  }
  const idp: Latchkey = {
    issuer,
    config,
    server,
    database,
    log,
    ...createArrangements(server.database.pool, config),
    async close() {
      // Its database (if it made one) goes when the file ends: another node may still be on it.
      await server.close(2000);
    },
  };
  t?.after(() => idp.close());
  return idp;
}

/**
 * Arrangements on the server of `config` over `db`, its database, through the services the server
 * and the CLI build (src/services.ts). The config must carry the server's LATCHKEY_SECRET_KEY.
 */
export function createArrangements(db: Pool, config: Config): Arrangements {
  const { issuer, secretKey } = config;
  if (!secretKey) throw new Error("arrangements need the server's LATCHKEY_SECRET_KEY in the config");
  const { clients, accounts, apis } = createServices({ config, db, secretKey });
  let userCount = 0;

  return {
    clients: {
      async create(input = {}, extra = {}) {
        const result = await clients.create(
          { name: 'Test App', type: 'confidential', redirectUris: [CALLBACK], ...input },
          extra,
        );
        if (!result.ok) throw new Error(result.problems.join('; '));
        return { clientId: result.client.client_id, clientSecret: result.clientSecret };
      },
    },
    users: {
      async create(input = {}) {
        userCount += 1;
        const result = await accounts.create({
          email: input.email ?? `user${userCount}.${randomBytes(3).toString('hex')}@example.com`,
          name: input.name ?? `Test User ${userCount}`,
          password: input.password ?? PASSWORD,
          emailVerified: true,
        });
        if (!result.ok) throw new Error(result.reason);
        return { id: result.account.id, email: result.account.email };
      },
    },
    apis: {
      async create(input) {
        const result = await apis.create(input);
        if (!result.ok) throw new Error(result.problems.join('; '));
      },
    },
    async rp(client, auth) {
      const method = auth ?? (client.clientSecret ? 'basic' : 'none');
      const clientAuth =
        method === 'basic'
          ? oidc.ClientSecretBasic(client.clientSecret!)
          : method === 'post'
            ? oidc.ClientSecretPost(client.clientSecret!)
            : oidc.None();
      return oidc.discovery(new URL(issuer), client.clientId, undefined, clientAuth, {
        execute: [oidc.allowInsecureRequests],
      });
    },
  };
}

export interface FlowOptions {
  scope?: string;
  prompt?: string;
  resource?: string;
  pkce?: boolean;
  extraParams?: Record<string, string>;
  /** Decision on the consent page when it shows: allow (default) or deny. */
  consent?: 'allow' | 'deny';
  agent?: UserAgent;
  email: string;
  password?: string;
  redirectUri?: string;
}

export interface FlowResult {
  /** The URL the browser was sent back to (the client's redirect URI with code or error). */
  callback: URL;
  codeVerifier: string;
  state: string;
  nonce: string;
  agent: UserAgent;
  sawLogin: boolean;
  sawConsent: boolean;
}

/**
 * Drives the front channel as a browser would: /authorize -> login page -> consent page ->
 * redirect back to the client. Returns the callback URL for the RP library to finish.
 */
export async function authorize(
  idp: Pick<Latchkey, 'issuer'>,
  rp: oidc.Configuration,
  options: FlowOptions,
): Promise<FlowResult> {
  const agent = options.agent ?? new UserAgent(idp.issuer);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const params: Record<string, string> = {
    redirect_uri: options.redirectUri ?? CALLBACK,
    scope: options.scope ?? 'openid profile email',
    state,
    nonce,
    ...(options.prompt ? { prompt: options.prompt } : {}),
    ...(options.resource ? { resource: options.resource } : {}),
    ...options.extraParams,
  };
  if (options.pkce !== false) {
    params.code_challenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
    params.code_challenge_method = 'S256';
  }
  const step = await signInFrom(idp, agent, agent.navigate(oidc.buildAuthorizationUrl(rp, params)), options);
  if (!step.location)
    throw Object.assign(new Error(`flow stopped at ${step.url} with status ${step.status}`), { step });
  return {
    callback: step.location,
    codeVerifier,
    state,
    nonce,
    agent,
    sawLogin: step.sawLogin,
    sawConsent: step.sawConsent,
  };
}

export interface SignInResult {
  /** Where the browser was sent off the provider (the client's redirect URI), if it was. */
  location?: URL | undefined;
  /** The last page shown on the provider (the device flow's success page, an error page). */
  url: URL;
  body: string;
  status: number;
  sawLogin: boolean;
  sawConsent: boolean;
}

/**
 * The part of authorize() after the first request, from any page that leads to our sign-in (the
 * authorization endpoint, a PAR request_uri, the device flow's confirmation): follows redirects,
 * signs in and answers the consent page when asked (allow unless told otherwise).
 */
export async function signInFrom(
  idp: Pick<Latchkey, 'issuer'>,
  agent: UserAgent,
  start: ReturnType<UserAgent['navigate']>,
  options: { email: string; password?: string | undefined; consent?: 'allow' | 'deny' | undefined },
): Promise<SignInResult> {
  let step = await start;
  let sawLogin = false;
  let sawConsent = false;
  for (let i = 0; i < 4 && !step.location; i += 1) {
    const csrf = formField(step.body, 'csrf');
    if (step.body.includes('/login"') && csrf) {
      sawLogin = true;
      step = await agent.submitForm(new URL(`${step.url.pathname}/login`, idp.issuer), {
        csrf,
        email: options.email,
        password: options.password ?? PASSWORD,
      });
    } else if (step.body.includes('/consent"') && csrf) {
      sawConsent = true;
      step = await agent.submitForm(new URL(`${step.url.pathname}/consent`, idp.issuer), {
        csrf,
        decision: options.consent ?? 'allow',
      });
    } else {
      break;
    }
  }
  return {
    location: step.location,
    url: step.url,
    body: step.body,
    status: step.response.status,
    sawLogin,
    sawConsent,
  };
}

/** Exchanges the callback's code with openid-client, checking state, nonce and PKCE as an RP must. */
export async function exchange(rp: oidc.Configuration, flow: FlowResult, pkce = true) {
  return oidc.authorizationCodeGrant(rp, flow.callback, {
    expectedState: flow.state,
    expectedNonce: flow.nonce,
    ...(pkce ? { pkceCodeVerifier: flow.codeVerifier } : {}),
    idTokenExpected: true,
  });
}

/** A prepared statement's name (every statement of our stores has one); undefined for unnamed SQL. */
export function statementName(config: unknown): string | undefined {
  return (config as { name?: string }).name;
}

/** Names of the statements the server runs while `step` runs (the rate limiter's left out). */
export async function statementsDuring(idp: Latchkey, step: () => Promise<unknown>): Promise<string[]> {
  const pool = idp.server.database.pool;
  const query = pool.query;
  const seen: string[] = [];
  pool.query = ((config: unknown, values?: unknown) => {
    const name = statementName(config);
    if (name) seen.push(name);
    return (query as (config: unknown, values?: unknown) => unknown).call(pool, config, values);
  }) as typeof pool.query;
  try {
    await step();
  } finally {
    pool.query = query;
  }
  return seen.filter((name) => !name.startsWith('rate_limits'));
}

/** A pool of its own on `url` (another node), counting the statements run through it by name. */
export function countedPool(t: TestContext, url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  t.after(() => pool.end());
  const statements: string[] = [];
  const query = pool.query.bind(pool) as (config: unknown) => Promise<unknown>;
  pool.query = ((config: unknown) => {
    const name = statementName(config);
    if (name) statements.push(name);
    return query(config);
  }) as typeof pool.query;
  return { pool, statements };
}
