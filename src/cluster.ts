import { fork } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Config } from './config.ts';
import { stopEmbeddedPostgres } from './db/embedded.ts';
import { relayClusterMetrics } from './observability/cluster-metrics.ts';
import type { Logger } from './observability/logger.ts';

/**
 * One server process per core (WEB_CONCURRENCY). The primary stays small (node:cluster, the
 * logger, this file): it validates no config and opens no database itself. A short-lived preparing
 * child (prepareInChild; main.ts, prepare-cluster.ts) loads the config, checks the port, opens the
 * database (starting the embedded PostgreSQL when there is no DATABASE_URL), migrates and creates
 * the keys once, and hands the primary the Config. The primary then forks the workers; each runs
 * startServer on the shared port and only attaches to the embedded database. The primary serves
 * no requests. Where the runtime has SO_REUSEPORT (kernelBalancing) each worker binds its own
 * socket and the kernel spreads connections; elsewhere the primary accepts and hands them out
 * (node:cluster's round-robin).
 *
 * Stopping: SIGTERM or SIGINT to the primary asks every worker to stop over IPC (a message, not a
 * signal: Ctrl-C already signals the whole process group, and a worker treats a second signal as
 * "exit now"), waits for them to finish their in-flight requests, then stops the embedded
 * PostgreSQL. A second signal kills the workers and exits at once. A worker that dies while
 * serving is replaced, unless that happens more than RESTARTS_PER_MINUTE times a minute. If the
 * primary dies, node:cluster makes its workers exit when the IPC channel closes.
 */

/** The IPC message a worker receives when it should stop gracefully. */
const STOP_MESSAGE = 'latchkey:stop';
/**
 * The IPC message a worker sends once it serves. node:cluster's own 'listening' event does not come
 * for a worker that binds its own socket (reusePort), so the primary counts these instead.
 */
export const SERVING_MESSAGE = 'latchkey:serving';

const RESTARTS_PER_MINUTE = 5;

/** Whether an IPC message is one of ours of this type. */
function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

export function isStopMessage(message: unknown): boolean {
  return isMessage(message, STOP_MESSAGE);
}

/** The IPC message a worker sends instead of starting, with the one line that says why. */
export const START_FAILED_MESSAGE = 'latchkey:start_failed';
export interface StartFailedMessage {
  type: typeof START_FAILED_MESSAGE;
  reason: string;
}

const isStartFailed = (message: unknown) => isMessage<StartFailedMessage>(message, START_FAILED_MESSAGE);

/** What a worker sends once it serves: SERVING_MESSAGE, with the port of its metrics listener if it has one. */
export interface ServingMessage {
  type: typeof SERVING_MESSAGE;
  metricsPort: number | undefined;
}

const isServingMessage = (message: unknown) => isMessage<ServingMessage>(message, SERVING_MESSAGE);

/**
 * A worker asks the primary for the Config the preparing child validated, rather than validating
 * the environment again: config.ts brings zod, some 14 MiB of every worker's memory (bench/README.md).
 */
const CONFIG_REQUEST = 'latchkey:config_request';
const CONFIG_MESSAGE = 'latchkey:config';
interface ConfigMessage {
  type: typeof CONFIG_MESSAGE;
  config: Config;
}

/** In a worker: the Config, as the primary holds it. If the primary is gone, node:cluster ends the worker. */
export function configFromPrimary(): Promise<Config> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if (!isMessage<ConfigMessage>(message, CONFIG_MESSAGE)) return;
      process.off('message', onMessage);
      resolve(message.config);
    };
    // Listening before asking: a message that arrives with no listener is dropped.
    process.on('message', onMessage);
    process.send!({ type: CONFIG_REQUEST });
  });
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

/** The environment variable and value that make main.ts the preparing child instead of a server. */
export const ROLE_VARIABLE = 'LATCHKEY_ROLE';
export const PREPARE_ROLE = 'prepare';

/** What the preparing child sends the primary before it exits 0. */
export const PREPARED_MESSAGE = 'latchkey:prepared';
export interface Prepared {
  type: typeof PREPARED_MESSAGE;
  /** Plain data (strings, numbers, booleans, arrays, undefined): it crosses IPC whole. */
  config: Config;
  /** Whether the embedded PostgreSQL serves the cluster: the child started or adopted it, the primary stops it. */
  embedded: boolean;
}

const isPrepared = (message: unknown) => isMessage<Prepared>(message, PREPARED_MESSAGE);

/**
 * Runs this entry point again, with the same Node flags and arguments, as the preparing child
 * (main.ts) and waits for it to exit. Resolves with what it prepared, or undefined when it failed:
 * it has already said why on stderr, in one line.
 */
export async function prepareInChild(env: Record<string, string | undefined>): Promise<Prepared | undefined> {
  const child = fork(process.argv[1]!, process.argv.slice(2), {
    env: { ...env, [ROLE_VARIABLE]: PREPARE_ROLE },
    // Structured clone: the Config arrives as sent, undefined values included.
    serialization: 'advanced',
  });
  let prepared: Prepared | undefined;
  child.on('message', (message) => {
    if (isPrepared(message)) prepared = message;
  });
  // 'close', not 'exit': it comes after the IPC channel has delivered every message.
  const [code] = (await once(child, 'close')) as [number | null];
  return code === 0 ? prepared : undefined;
}

/**
 * Runs the primary with what the preparing child prepared. Resolves once every worker listens;
 * rejects (after stopping what it started) when a worker exits before it listened.
 */
export async function runPrimary(
  config: Config,
  log: Logger,
  options: {
    /** The embedded PostgreSQL serves the cluster: stopped at shutdown. */
    embedded: boolean;
    graceMs?: number;
    workerEnv?: Record<string, string>;
    workerNodeFlags?: string[];
  },
): Promise<void> {
  const graceMs = options.graceMs ?? 10_000;
  if (options.workerNodeFlags?.length)
    cluster.setupPrimary({ execArgv: [...process.execArgv, ...options.workerNodeFlags] });
  cluster.on('message', (worker, message) => {
    // A worker that asked and exited before the answer is seen by the exit handler; the callback
    // takes the closed channel's error, which would otherwise be an unhandled 'error' event.
    if (isMessage(message, CONFIG_REQUEST) && worker.isConnected())
      worker.send({ type: CONFIG_MESSAGE, config } satisfies ConfigMessage, undefined, () => undefined);
  });
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
  // Why a worker could not start, when it said so: the primary's one line, or its exit's log line.
  const failures = new WeakMap<Worker, string>();
  cluster.on('message', (worker, message) => {
    if (isStartFailed(message)) failures.set(worker, message.reason);
  });
  // Read once the worker's IPC channel has delivered everything: its exit can be seen first.
  const failureOf = async (worker: Worker) => {
    if (worker.isConnected()) await once(worker, 'disconnect');
    return failures.get(worker);
  };
  // Sums the workers' metrics for whichever worker is asked for /metrics.
  const metrics = relayClusterMetrics(() => serving);
  // At shutdown only: stopEmbeddedPostgres loads pg then, to see whether the CLI still uses it.
  const stopDatabase = async () => {
    if (options.embedded) await stopEmbeddedPostgres({ dataDir: config.dataDir, log });
  };

  const live = () => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
  const stopWorkers = async () => {
    const workers = live();
    // A worker whose channel is gone (it is exiting) cannot be asked: it gets SIGTERM instead.
    // send() reports a closed channel to its callback, not by throwing; without one the error
    // is an unhandled 'error' event that kills the primary.
    const terminate = (worker: Worker) => {
      if (!worker.isDead()) worker.process.kill('SIGTERM');
    };
    for (const worker of workers) {
      if (!worker.isConnected()) terminate(worker);
      else
        worker.send({ type: STOP_MESSAGE }, undefined, (err: Error | null) => {
          if (err) terminate(worker);
        });
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
      .then(stopDatabase));
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
        if (listening.has(worker.id)) return;
        const exit = signal ?? `exit code ${code}`;
        void failureOf(worker).then((reason) =>
          done(new Error(reason ?? `a server worker exited while starting (${exit})`)),
        );
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
    void failureOf(worker).then((reason) =>
      log.error(
        { event: 'cluster.worker_exited', worker_pid: worker.process.pid, code, signal, reason },
        'a server worker exited: starting another',
      ),
    );
    cluster.fork(options.workerEnv);
  });
}
