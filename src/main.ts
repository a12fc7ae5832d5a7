import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';
import {
  configFromPrimary,
  isStopMessage,
  PREPARE_ROLE,
  PREPARED_MESSAGE,
  type Prepared,
  prepareInChild,
  ROLE_VARIABLE,
  runPrimary,
  SERVING_MESSAGE,
  type ServingMessage,
  START_FAILED_MESSAGE,
  type StartFailedMessage,
} from './cluster.ts';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import type { RunningServer } from './server.ts';
import { manageWorkerMemory } from './worker-memory.ts';

/**
 * `npm start`: config -> database -> migrate -> app -> listen. SIGTERM/SIGINT stop gracefully
 * (in-flight requests get up to 10 s); a second signal exits at once. This entry point first runs
 * itself again as a short-lived preparing child, which validates the config (config.ts stays the
 * one place that does) and, for a cluster, checks the port and prepares the database, then sends
 * the Config back: this process never loads zod or pg. With WEB_CONCURRENCY > 1 (the default on a
 * multi-core machine) it is then the cluster primary (cluster.ts), and the entry point, re-run by
 * node:cluster, is each worker, which takes that Config from the primary; with 1 it serves itself,
 * one short Node start later.
 */
export async function serve(env: Record<string, string | undefined>): Promise<void> {
  if (cluster.isWorker) {
    const config = await configFromPrimary();
    await serveHere(config, loggerFor(config));
    return;
  }
  // Only with a primary to answer: the variable inherited or set by hand is no role.
  if (env[ROLE_VARIABLE] === PREPARE_ROLE && process.send) {
    await prepare(env);
    return;
  }
  const prepared = await prepareInChild(env);
  if (!prepared) process.exit(1); // the child said why
  const { config, embedded } = prepared;
  const log = loggerFor(config);
  if (config.webConcurrency <= 1) {
    await serveHere(config, log);
    return;
  }
  // argon2id needs 19 MiB per hash. Memory mapped for each hash and unmapped after it is faulted
  // in again page by page on the next login, which on a virtual machine costs more than the
  // hash itself (measured here: 129 ms of CPU per login instead of 49). So each worker keeps its
  // buffer: malloc's heap (not mmap) up to 32 MiB, trimmed only beyond 48 MiB free, in two arenas
  // so the thread pool does not keep one buffer per thread. The operator's own settings win.
  const workerEnv = {
    MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? String(32 * 1024 * 1024),
    MALLOC_TRIM_THRESHOLD_: env.MALLOC_TRIM_THRESHOLD_ ?? String(48 * 1024 * 1024),
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2',
  };
  // Node 24 sizes V8's young generation from the machine's memory: a worker under load grew to
  // 310-380 MiB here; 16 MiB semi-spaces (Node 20's size) kept it near 220-300 MiB at the same
  // throughput, and 8 MiB another 15-30 MiB lower, for the same CPU per request in paired runs. Under load V8 also lets the old generation grow up to 4x its live data between
  // full collections; a fixed factor of 2 kept a worker's peak at 179-229 MiB instead of 246-304,
  // for the same CPU per request (bench/README.md). A heap flag the operator gives wins.
  // --expose-gc: for the collections that give memory back while a worker is idle and that keep its heap
  // under a ceiling while it serves (worker-memory.ts).
  const operatorFlags = [...process.execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  const workerNodeFlags = [
    ...(operatorFlags.includes('semi-space') ? [] : ['--max-semi-space-size=8']),
    ...(operatorFlags.includes('heap-growing') ? [] : ['--heap-growing-percent=100']),
    ...(operatorFlags.includes('expose-gc') ? [] : ['--expose-gc']),
  ];
  try {
    await runPrimary(config, log, { embedded, workerEnv, workerNodeFlags });
  } catch (err) {
    await failStart(err, log);
  }
}

/**
 * The preparing child: validates the config (a ConfigError is its one line and exit 1), says
 * its warnings (once per start: neither the primary nor the workers repeat them), prepares what
 * a cluster shares (prepare-cluster.ts), sends it all to the primary and exits 0.
 */
async function prepare(env: Record<string, string | undefined>): Promise<void> {
  const config = await loadConfigOrExit(env);
  const log = loggerFor(config);
  const { configWarnings } = await import('./config.ts');
  for (const { setting, message } of configWarnings(config)) log.warn({ event: 'config.warning', setting }, message);
  // The primary is gone (killed while it waited): nobody would use what this prepares.
  process.on('disconnect', () => process.exit(1));
  let prepared: Prepared;
  try {
    // A single process (WEB_CONCURRENCY=1) prepares its database itself, as the CLI does.
    const { embedded } =
      config.webConcurrency > 1
        ? await (await import('./prepare-cluster.ts')).prepareCluster(config, log)
        : { embedded: false };
    prepared = { type: PREPARED_MESSAGE, config, embedded };
  } catch (err) {
    return failStart(err, log);
  }
  process.send!(prepared, () => {
    log.flush?.();
    process.exit(0);
  });
}

async function loadConfigOrExit(env: Record<string, string | undefined>): Promise<Config> {
  const { ConfigError, loadConfig } = await import('./config.ts');
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Lines are written without blocking a request and flushed when the process exits (logger.ts). */
function loggerFor(config: Config): Logger {
  return createLogger({
    level: config.logLevel,
    pretty: config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY),
    async: true,
  });
}

/**
 * A start that failed: its one line on stderr, the details at debug, exit 1. A cluster worker
 * tells the primary instead, which says it once for all the workers that fail alike (a taken
 * METRICS_PORT fails every one of them).
 */
async function failStart(err: unknown, log: Logger): Promise<never> {
  const reason = oneLine(err);
  log.debug({ err }, 'start failed');
  if (cluster.isWorker && process.connected) {
    const failed: StartFailedMessage = { type: START_FAILED_MESSAGE, reason };
    await new Promise((resolve) => process.send!(failed, resolve));
  } else {
    process.stderr.write(`latchkey: ${reason}\n`);
  }
  log.flush?.();
  process.exit(1);
}

/** Serves in this process: a cluster worker, or the single process (WEB_CONCURRENCY=1). */
async function serveHere(config: Config, log: Logger): Promise<void> {
  let running: RunningServer;
  let earlyStop = false;
  const rememberEarlyStop = (message: unknown) => {
    if (isStopMessage(message)) earlyStop = true;
  };
  try {
    // A worker may be asked to stop while it is still starting (a signal to the primary right
    // after the first worker listens): remember it and stop as soon as the server is up.
    process.on('message', rememberEarlyStop);
    // Loaded here, not at the top: the cluster primary serves nothing and stays small without it.
    const { startServer } = await import('./server.ts');
    running = await startServer(config, log, { worker: cluster.isWorker });
    // What starting and each burst of load leave in V8's heap, given back while idle, and the heap
    // kept under a ceiling under load (worker-memory.ts): a worker always, a single process when its
    // operator started node with --expose-gc.
    manageWorkerMemory();
    if (cluster.isWorker) {
      const serving: ServingMessage = { type: SERVING_MESSAGE, metricsPort: running.metricsPort };
      process.send?.(serving);
    }
  } catch (err) {
    return failStart(err, log);
  }
  let stopping = false;
  const stop = (signal: string) => {
    // A worker stops once, whoever asks (the primary, or a signal sent to the whole process
    // group); forcing an exit is the primary's job.
    if (stopping && cluster.isWorker) return;
    if (stopping) {
      log.warn({ event: 'server.forced_exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ event: 'server.stopping', signal }, 'stopping: finishing in-flight requests');
    running.close(10_000).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ event: 'server.stop_failed', err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.off('message', rememberEarlyStop);
  process.on('message', (message) => {
    if (isStopMessage(message)) stop('primary');
  });
  if (earlyStop) stop('primary');
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await serve(process.env);
}
