import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createPasswordHasher } from '../../src/accounts/passwords.ts';
import { createAccountStore } from '../../src/accounts/store.ts';
import { createClients } from '../../src/clients/clients.ts';
import { createClientStore } from '../../src/clients/store.ts';
import { createApiResourceStore } from '../../src/oidc/api-resource-store.ts';
import { createApiResources } from '../../src/oidc/api-resources.ts';
import { createSecretBox } from '../../src/secret-box.ts';
import { type BenchClient, REDIRECT_URI } from './flow.ts';
import type { CpuSources } from './load.ts';
import { childrenOf, executableOf, parentOf, postgresPids, processTree, rssMiB } from './proc.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const PASSWORD = 'correct horse battery staple';
export const API = { identifier: 'https://api.bench.example', scope: 'read' };
const USERS = 10_000;

export interface Target {
  name: 'latchkey' | 'baseline';
  issuer: string;
  /** First-party confidential clients the login flows use. */
  loginClients: BenchClient[];
  /** A confidential client allowed client_credentials for API. */
  ccClient: BenchClient;
  userCount: number;
  email(i: number): string;
  cpu: CpuSources;
  /** RSS per server process now, MiB. */
  rss(): number[];
  describe: Record<string, unknown>;
  stop(): Promise<void>;
}

/** The primary and its workers (tsx may also run an esbuild helper: not ours to count as memory). */
function nodeProcesses(primary: number): number[] {
  return [primary, ...childrenOf(primary).filter((pid) => executableOf(pid) === executableOf(primary))];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net
      .createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
  });
}

/** Polls until the URL answers 200, for at most `ms`. */
async function waitFor(url: string, ms: number, child: ChildProcess): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} while starting`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/** Sends SIGTERM, waits up to `ms`, then SIGKILL. */
async function stopChild(child: ChildProcess, ms = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

function spawnServer(args: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The server logs at its default level (info: a line per request); only warnings, errors and
  // anything that is not a JSON log line are shown here, prefixed. Every line is read, so the pipe
  // never fills and the server's log output costs it what it costs an operator's.
  const relay = () => {
    let rest = '';
    return (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const level = line.startsWith('{"level":') ? Number(line.slice(9, 11)) : 100;
        if (level >= 40 && line.trim() && !line.includes('Unsupported runtime'))
          process.stderr.write(`  [${label}] ${line.slice(0, 300)}\n`);
      }
    };
  };
  child.stdout?.on('data', relay());
  child.stderr?.on('data', relay());
  return child;
}

async function poolMap<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}

export interface LatchkeyOptions {
  workers?: number;
  poolSize?: number;
  extraEnv?: Record<string, string>;
  /** Extra node flags for the server (e.g. --cpu-prof); workers inherit them. */
  nodeFlags?: string[];
  /**
   * The directory of the machine's PostgreSQL Unix-domain socket: Latchkey connects through it
   * instead of TCP to 127.0.0.1, as it does to the embedded PostgreSQL `npm start` runs.
   */
  socketDir?: string | undefined;
  log: (line: string) => void;
}

/**
 * Latchkey as operators run it: `node bin/serve.js`, i.e. `npm start` (cluster primary + a worker per
 * core) against a fresh database on the machine's PostgreSQL, seeded through our own stores.
 */
export async function startLatchkeyTarget(options: LatchkeyOptions): Promise<Target> {
  const database = `latchkey_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  admin.on('error', (err) => options.log(`admin connection: ${err.message}`));
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  if (options.socketDir) url.searchParams.set('host', options.socketDir);
  const databaseUrl = url.toString();
  const secretKey = randomBytes(32).toString('base64url');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let pool: pg.Pool | undefined;

  const cleanup = async () => {
    if (child) await stopChild(child);
    await pool?.end().catch(() => undefined);
    await admin
      .query(`drop database if exists ${database} with (force)`)
      .catch((err: Error) => options.log(`could not drop ${database}: ${err.message}`));
    await admin.end().catch(() => undefined);
  };

  try {
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: issuer,
      LATCHKEY_SECRET_KEY: secretKey,
      // Operator defaults: LOG_LEVEL (info), WEB_CONCURRENCY (a worker per core), DATABASE_POOL_SIZE
      // are not set unless asked (--env, --workers, --pool). JSON lines, as LOG_FORMAT=auto gives
      // when stdout is not a terminal.
      LOG_FORMAT: 'json',
      // Every flow comes from 127.0.0.1; the per-address limits stay on (their cost is real) but high enough not to refuse.
      RATE_LIMIT_LOGIN_PER_MINUTE: '100000',
      RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
      ...(options.workers ? { WEB_CONCURRENCY: String(options.workers) } : {}),
      ...(options.poolSize ? { DATABASE_POOL_SIZE: String(options.poolSize) } : {}),
      ...options.extraEnv,
    };
    const started = performance.now();
    child = spawnServer([...(options.nodeFlags ?? []), 'bin/serve.js'], env, 'latchkey');
    await waitFor(`${issuer}/healthz`, 90_000, child);
    const primary = child.pid!;
    const workersWanted = options.workers ?? (await import('node:os')).availableParallelism();
    // The port answers as soon as one worker listens; wait (bounded) for the others.
    for (let i = 0; i < 100 && workersWanted > 1 && nodeProcesses(primary).length - 1 < workersWanted; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const startMs = performance.now() - started;

    // Seed through the stores, over our own pool.
    pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
    pool.on('error', (err) => options.log(`bench pool: ${err.message}`));
    const box = createSecretBox(secretKey);
    const clients = createClients({ store: createClientStore(pool), box });
    const seedStarted = performance.now();
    const hash = await createPasswordHasher({ memoryKib: 19456, iterations: 2 }).hash(PASSWORD);
    const email = (i: number) => `user${i}@bench.example`;
    // One statement for the 10,000 accounts (the store inserts one row at a time; this is ~50x faster
    // and leaves the same rows): every account gets the same argon2id hash, computed once above.
    await pool.query(
      `insert into accounts (id, email, email_verified, name, given_name, family_name, password_hash)
      select gen_random_uuid()::text, 'user' || i || '@bench.example', true, 'Bench User ' || i, 'Bench', 'User ' || i, $1
      from generate_series(0, $2 - 1) as i`,
      [hash, USERS],
    );
    // ...and one through the store, so a change to the table shape that breaks the bench shows here.
    await createAccountStore(pool).insert({
      id: randomUUID(),
      email: 'store-check@bench.example',
      emailVerified: true,
      name: 'Store Check',
      passwordHash: hash,
    });
    const created = await poolMap(99, 4, async (i) => {
      const result = await clients.create({
        name: `Bench App ${i}`,
        type: 'confidential',
        redirectUris: [REDIRECT_URI],
        grantTypes: ['authorization_code', 'refresh_token'],
        firstParty: i < 80,
      });
      if (!result.ok) throw new Error(result.problems.join('; '));
      return { clientId: result.client.client_id, clientSecret: result.clientSecret! };
    });
    const cc = await clients.create({
      name: 'Bench Service',
      type: 'confidential',
      redirectUris: [],
      grantTypes: ['client_credentials'],
    });
    if (!cc.ok) throw new Error(cc.problems.join('; '));
    const api = await createApiResources(createApiResourceStore(pool)).create({
      identifier: API.identifier,
      scopes: ['read', 'write'],
    });
    if (!api.ok) throw new Error(api.problems.join('; '));
    const seedMs = performance.now() - seedStarted;

    const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
    const postmaster = parentOf(rows[0]!.pid);
    if (!postmaster) throw new Error('cannot find the PostgreSQL postmaster in /proc');
    options.log(
      `latchkey: started in ${Math.round(startMs)} ms (${nodeProcesses(primary).length - 1} workers), seeded ${USERS} users, 100 clients, 1 API in ${Math.round(seedMs)} ms`,
    );

    return {
      name: 'latchkey',
      issuer,
      loginClients: created.slice(0, 80),
      ccClient: { clientId: cc.client.client_id, clientSecret: cc.clientSecret! },
      userCount: USERS,
      email,
      cpu: {
        server: () => processTree(primary),
        postgres: () => postgresPids(postmaster, database),
        postgresAll: () => postgresPids(postmaster),
        memory: () => nodeProcesses(primary),
      },
      rss: () => nodeProcesses(primary).map((pid) => Math.round(rssMiB(pid) ?? 0)),
      describe: {
        database,
        workers: nodeProcesses(primary).length - 1,
        pool_size: options.poolSize ?? 10,
        start_ms: Math.round(startMs),
        seed_ms: Math.round(seedMs),
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Bare oidc-provider with its in-memory adapter (bench/baseline-server.ts), one process. */
export async function startBaselineTarget(options: { log: (line: string) => void }): Promise<Target> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const client = (i: number): BenchClient => ({
    clientId: `baseline-app-${i}`,
    clientSecret: randomBytes(32).toString('base64url'),
  });
  const loginClients = Array.from({ length: 80 }, (_, i) => client(i));
  const ccClient = client(99);
  const child = spawnServer(
    ['--import', 'tsx', path.join('bench', 'baseline-server.ts')],
    {
      BASELINE_CONFIG: JSON.stringify({ port, issuer, loginClients, ccClient, api: API, redirectUri: REDIRECT_URI }),
    },
    'baseline',
  );
  try {
    await waitFor(`${issuer}/.well-known/openid-configuration`, 60_000, child);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const pid = child.pid!;
  options.log('baseline: bare oidc-provider started (in-memory adapter, one process)');
  return {
    name: 'baseline',
    issuer,
    loginClients,
    ccClient,
    userCount: 10_000,
    email: (i) => `user${i}@bench.example`,
    cpu: { server: () => processTree(pid), postgres: () => [], postgresAll: () => [], memory: () => [pid] },
    rss: () => [Math.round(rssMiB(pid) ?? 0)],
    describe: { processes: 1 },
    stop: () => stopChild(child),
  };
}
