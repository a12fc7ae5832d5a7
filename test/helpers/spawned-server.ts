import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { type Arrangements, createArrangements, freePort } from './latchkey.ts';
import { ROOT } from './processes.ts';

export interface SpawnedServer extends Arrangements {
  child: ChildProcess;
  url: string;
  /** The same as `url`, so authorize() and the like take a spawned server as they take startLatchkey's. */
  issuer: string;
  port: number;
  secretKey: string;
  database: TestDatabase;
  /** Resolves with the exit code, or the signal that ended the process, when it has exited. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
  /** Starts the server again (same command, environment, database and port) once this process has exited. */
  restart(): Promise<SpawnedServer>;
}

/**
 * Starts Latchkey as its own process (`npm start`'s command unless `command` says otherwise) on a
 * fresh database and a free port, and waits (bounded) until it has started: /readyz answers 200
 * and, as a cluster (WEB_CONCURRENCY, default one worker per core), every worker listens (the
 * first worker answers /readyz before the others are up). Users and clients are arranged through
 * a pool of our own, as the CLI would. Killed, the pool closed and the database dropped when the
 * test ends.
 */
export async function spawnServer(
  t: TestContext,
  options: { env?: Record<string, string>; command?: string[]; cwd?: string; port?: number } = {},
): Promise<SpawnedServer> {
  const database = await createTestDatabase();
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const secretKey = randomBytes(32).toString('base64url');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: url,
    DATABASE_URL: database.url,
    LATCHKEY_SECRET_KEY: secretKey,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    // Not the default 9464: servers of parallel tests would take it from each other.
    METRICS_PORT: 'off',
    ...options.env,
  };
  const [file, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/main.ts'];
  // pg connects on the first query: servers that arrange nothing never open it.
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  // An idle connection of ours that PostgreSQL ends (a restart, an administrator) is not the server
  // under test failing: the pool drops it and connects again on the next query. Without a listener
  // the pool's 'error' event would end the test process.
  pool.on('error', () => {});
  // Arranged with the configuration the server reads from the same environment.
  const arrangements = createArrangements(pool, loadConfig(env));
  const children: Array<{ child: ChildProcess; exited: Promise<unknown> }> = [];
  // In order: the servers and our pool let go of the database before it is dropped.
  t.after(async () => {
    for (const { child, exited } of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    await pool.end();
    await database.drop();
  });
  const workers = Number(env.WEB_CONCURRENCY ?? availableParallelism());

  const start = async (): Promise<SpawnedServer> => {
    const child = spawn(file!, args, { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? code)),
    );
    children.push({ child, exited });
    for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
      const ready =
        (workers <= 1 || output.includes('"event":"cluster.started"')) &&
        (await fetch(`${url}/readyz`).then(
          (response) => response.status === 200,
          () => false,
        ));
      if (ready) break;
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null)
        assert.fail(`server did not become ready:\n${output}`);
    }
    return {
      ...arrangements,
      child,
      url,
      issuer: url,
      port,
      secretKey,
      database,
      exited,
      output: () => output,
      restart: start,
    };
  };
  return start();
}
