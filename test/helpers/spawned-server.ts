import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { freePort } from './latchkey.ts';
import { ROOT } from './processes.ts';

export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  port: number;
  secretKey: string;
  database: TestDatabase;
  /** Resolves with the exit code when the process has exited. */
  exited: Promise<number | null>;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
}

/**
 * Starts Latchkey as its own process (`npm start`'s command unless `command` says otherwise) on a
 * fresh database and a free port, and waits (bounded) until it has started: /readyz answers 200
 * and, as a cluster (WEB_CONCURRENCY, default one worker per core), every worker listens (the
 * first worker answers /readyz before the others are up). Killed and the database dropped when
 * the test ends.
 */
export async function spawnServer(t: TestContext, options: { env?: Record<string, string>; command?: string[]; cwd?: string } = {}): Promise<SpawnedServer> {
  const database = await createTestDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const secretKey = randomBytes(32).toString('base64url');
  const [file, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/main.ts'];
  const child = spawn(file!, args, {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ISSUER: url, DATABASE_URL: database.url,
      LATCHKEY_SECRET_KEY: secretKey, LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await database.drop();
  });
  const workers = Number(options.env?.WEB_CONCURRENCY ?? availableParallelism());
  const started = workers > 1 ? '"event":"cluster.started"' : '"event":"server.listening"';
  for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
    const ready = output.includes(started) && await fetch(`${url}/readyz`).then((response) => response.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`server did not become ready:\n${output}`);
  }
  return { child, url, port, secretKey, database, exited, output: () => output };
}
