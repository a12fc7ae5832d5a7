import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import net from 'node:net';
import type { Config } from './config.ts';
import { openDatabase } from './db/open.ts';
import { relayClusterMetrics } from './observability/cluster-metrics.ts';
import type { Logger } from './observability/logger.ts';
import { prepareDatabase } from './prepare-database.ts';

/**
 * One server process per core (WEB_CONCURRENCY). The primary opens the database (starting the
 * embedded PostgreSQL when there is no DATABASE_URL), migrates and creates the keys once, then forks
 * the workers; each worker runs startServer on the shared port and only attaches to the embedded
 * database. The primary serves no requests. Where the runtime has SO_REUSEPORT (kernelBalancing)
 * each worker binds its own socket and the kernel spreads connections; elsewhere the primary accepts
 * and hands them out (node:cluster's round-robin).
 *
 * Stopping: SIGTERM or SIGINT to the primary asks every worker to stop over IPC (a message, not a
 * signal: Ctrl-C already signals the whole process group, and a worker treats a second signal as
 * "exit now"), waits for them to finish their in-flight requests, then closes its own pool and the
 * embedded PostgreSQL. A second signal kills the workers and exits at once. A worker that dies
 * while serving is replaced, unless that happens more than RESTARTS_PER_MINUTE times a minute.
 * If the primary dies, node:cluster makes its workers exit when the IPC channel closes.
 */

/** The IPC message a worker receives when it should stop gracefully. */
const STOP_MESSAGE = 'latchkey:stop';
/**
 * The IPC message a worker sends once it serves. node:cluster's own 'listening' event does not come
 * for a worker that binds its own socket (reusePort), so the primary counts these instead.
 */
export const SERVING_MESSAGE = 'latchkey:serving';

const RESTARTS_PER_MINUTE = 5;

export function isStopMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === STOP_MESSAGE;
}

/** What a worker sends once it serves: SERVING_MESSAGE, with the port of its metrics listener if it has one. */
export interface ServingMessage {
  type: typeof SERVING_MESSAGE;
  metricsPort: number | undefined;
}

function isServingMessage(message: unknown): message is ServingMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === SERVING_MESSAGE;
}

/**
 * Whether cluster workers can each bind the port with SO_REUSEPORT and let the kernel balance:
 * Linux, and Node 22.12+ / 23.1+ (listen's `reusePort`; older releases ignore the option, and
 * `exclusive` alone would then fail with EADDRINUSE). Not for port 0: each worker would get its own.
 * Measured here (Node 24, two workers, kill -9 of one under 16 connections at a time): with the
 * primary's round-robin a connection accepted just then waited 35 s and more; with reusePort the
 * dead worker's queued connections were reset within 0.5 s and the rest were served.
 */
export function kernelBalancing(port: number, version = process.versions.node, platform = process.platform): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const supported = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return supported && platform === 'linux' && port !== 0;
}

/** One line for a port that cannot be taken, the same from the primary and from a single server. */
export function cannotListen(port: number, host: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const reason =
    code === 'EADDRINUSE' ? 'address in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new Error(`cannot listen on PORT ${port} (HOST ${host}): ${reason}`, { cause: err });
}

/**
 * Takes PORT once with a plain socket (no SO_REUSEPORT) and lets it go again, before any worker is
 * forked. Workers bind with SO_REUSEPORT, which another process of the same user (a second or stale
 * Latchkey cluster) could share: the kernel would then split the traffic between the two instead of
 * refusing the second. A plain bind is refused by any socket on the port, reusePort or not.
 */
async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  probe.listen({ port, host, exclusive: true });
  try {
    await once(probe, 'listening');
  } catch (err) {
    throw cannotListen(port, host, err);
  }
  await new Promise((resolve) => probe.close(resolve));
}

/**
 * Runs the primary. Resolves once every worker listens; rejects (after stopping what it started)
 * when setup fails or a worker exits before it listened.
 */
export async function runPrimary(
  config: Config,
  log: Logger,
  options: { graceMs?: number; workerEnv?: Record<string, string>; workerNodeFlags?: string[] } = {},
): Promise<void> {
  const graceMs = options.graceMs ?? 10_000;
  if (options.workerNodeFlags?.length)
    cluster.setupPrimary({ execArgv: [...process.execArgv, ...options.workerNodeFlags] });
  await assertPortFree(config.port, config.host);
  const database = await openDatabase(config, log, { adoptEmbedded: true });
  // The workers that serve (they said so): counted for start-up, asked for their metrics.
  const serving = new Set<Worker>();
  // The metrics listener's port, as the workers bound it (all the same: node:cluster shares it).
  let metricsPort: number | undefined;
  const onServing = (worker: Worker, message: unknown) => {
    if (!isServingMessage(message)) return;
    serving.add(worker);
    metricsPort ??= message.metricsPort;
  };
  cluster.on('message', onServing);
  cluster.on('exit', (worker) => serving.delete(worker));
  try {
    await prepareDatabase(database.pool, config, log);
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
  // Sums the workers' metrics for whichever worker is asked for /metrics.
  const metrics = relayClusterMetrics(() => serving);

  const live = () => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
  const stopWorkers = async () => {
    const workers = live();
    for (const worker of workers) {
      try {
        worker.send({ type: STOP_MESSAGE });
      } catch {
        worker.process.kill('SIGTERM'); // its channel is already gone
      }
    }
    const exited = Promise.all(
      workers.map((worker) => (worker.isDead() ? undefined : new Promise((resolve) => worker.once('exit', resolve)))),
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, graceMs + 5_000, 'late');
    });
    if ((await Promise.race([exited, late])) === 'late') {
      log.warn({ event: 'cluster.kill_workers' }, 'workers did not stop in time: killing them');
      for (const worker of live()) worker.process.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  };

  // Stopping is set up before the first fork: a worker answers requests as soon as it listens,
  // so a signal may come while others are still starting, and it must not kill the primary
  // without stopping the workers and the embedded PostgreSQL.
  let stopping = false;
  let restarts: number[] = [];
  let closed: Promise<void> | undefined;
  const closeAll = () =>
    (closed ??= stopWorkers()
      .then(() => metrics.close())
      .then(() => database.close()));
  const shutdown = (exitCode: number) => {
    stopping = true;
    closeAll().then(
      () => {
        log.info({ event: 'server.stopped' }, 'Latchkey stopped');
        process.exit(exitCode);
      },
      (err: unknown) => {
        log.error({ event: 'server.stop_failed', err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ event: 'server.forced_exit', signal }, 'second signal: exiting now');
      for (const worker of live()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    log.info({ event: 'server.stopping', signal }, 'stopping: workers finish in-flight requests');
    shutdown(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const listening = new Set<number>();
  try {
    await new Promise<void>((resolve, reject) => {
      const onListening = (worker: Worker, message: unknown) => {
        if (!isServingMessage(message)) return;
        listening.add(worker.id);
        if (listening.size === config.webConcurrency) done();
      };
      const onExit = (worker: Worker, code: number | null, signal: string | null) => {
        if (!listening.has(worker.id))
          done(new Error(`a server worker exited while starting (${signal ?? `exit code ${code}`})`));
      };
      const done = (err?: Error) => {
        cluster.off('message', onListening);
        cluster.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      cluster.on('message', onListening);
      cluster.on('exit', onExit);
      for (let i = 0; i < config.webConcurrency; i += 1) cluster.fork(options.workerEnv);
    });
  } catch (err) {
    // A signal during start-up: shutdown() is already stopping everything and will exit.
    if (stopping) return;
    await closeAll().catch(() => undefined);
    throw err;
  }
  if (stopping) return;
  log.info(
    {
      event: 'cluster.started',
      workers: config.webConcurrency,
      metrics_port: metricsPort,
      kernel_balancing: kernelBalancing(config.port),
    },
    `Latchkey running ${config.webConcurrency} workers`,
  );

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    restarts = [...restarts.filter((at) => now - at < 60_000), now];
    if (restarts.length > RESTARTS_PER_MINUTE) {
      log.fatal({ event: 'cluster.crash_loop', code, signal }, 'server workers keep exiting: stopping');
      shutdown(1);
      return;
    }
    log.error(
      { event: 'cluster.worker_exited', worker_pid: worker.process.pid, code, signal },
      'a server worker exited: starting another',
    );
    cluster.fork(options.workerEnv);
  });
}
