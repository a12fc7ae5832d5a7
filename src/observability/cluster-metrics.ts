import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http, { type RequestListener } from 'node:http';
import type client from 'prom-client';
import type { Logger } from './logger.ts';

/**
 * Metrics of a cluster (WEB_CONCURRENCY > 1). Each worker counts what it serves in its own
 * registry; a scrape must see the sum, whichever worker it reaches. A worker's /metrics asks the
 * primary; the primary asks every worker that is serving for its registry (a worker still
 * starting has nothing to report and could not answer yet), sums them with prom-client's
 * aggregation (counters and histograms add up, gauges per their aggregator) and replies. With a
 * metrics listener (METRICS_PORT) the primary serves the sum there itself and the workers serve none;
 * a worker serves /metrics on the public port only when asked (METRICS_PORT = PORT).
 */

const ASK_PRIMARY = 'latchkey:metrics.ask_primary';
const PRIMARY_ANSWER = 'latchkey:metrics.primary_answer';
const COLLECT = 'latchkey:metrics.collect';
const COLLECTED = 'latchkey:metrics.collected';
/** The primary waits this long for the workers; a worker waits a little longer for the primary. */
const COLLECT_TIMEOUT_MS = 5000;
const ASK_TIMEOUT_MS = 7000;

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (the text format 0.0.4), without loading it in the primary. */
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;
interface Message {
  type: string;
  id: string;
  text?: string;
  metrics?: MetricsJson;
  error?: string;
}

function messageOf(value: unknown, type: string): Message | undefined {
  const message = value as Partial<Message> | null;
  return typeof message === 'object' && message !== null && message.type === type && typeof message.id === 'string'
    ? (message as Message)
    : undefined;
}

/** Waits for one reply by id; rejects after `ms`. */
function replies() {
  const pending = new Map<string, (message: Message) => void>();
  return {
    wait(id: string, ms: number, what: string): Promise<Message> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${what} did not answer within ${ms} ms`));
        }, ms);
        pending.set(id, (message) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(message);
        });
      });
    },
    deliver(message: Message) {
      pending.get(message.id)?.(message);
    },
  };
}

/**
 * A worker's half: answers the primary's collection requests with `registry`, and returns the
 * function /metrics uses to get the whole cluster's text from the primary.
 */
export function reportToPrimary(registry: client.Registry): () => Promise<string> {
  const answers = replies();
  process.on('message', (value: unknown) => {
    const collect = messageOf(value, COLLECT);
    if (collect) {
      registry.getMetricsAsJSON().then(
        (metrics) => process.send!({ type: COLLECTED, id: collect.id, metrics }),
        (err: unknown) => process.send!({ type: COLLECTED, id: collect.id, error: (err as Error).message }),
      );
    }
    const answer = messageOf(value, PRIMARY_ANSWER);
    if (answer) answers.deliver(answer);
  });
  return async function clusterText() {
    const id = randomUUID();
    const answered = answers.wait(id, ASK_TIMEOUT_MS, 'the cluster primary');
    process.send!({ type: ASK_PRIMARY, id });
    const answer = await answered;
    if (answer.text === undefined) throw new Error(`cluster metrics failed: ${answer.error ?? 'no answer'}`);
    return answer.text;
  };
}

/**
 * The primary's half: `serving` lists the workers to collect from. With `listen` (METRICS_PORT,
 * METRICS_HOST) it also serves /metrics there.
 */
export async function serveClusterMetrics(options: {
  log: Logger;
  serving: () => Iterable<Worker>;
  listen: { port: number; host: string } | undefined;
}): Promise<{ port: number | undefined; close(): Promise<void> }> {
  const collected = replies();

  async function clusterText(): Promise<string> {
    const workers = [...options.serving()].filter((worker) => worker.isConnected());
    const parts = await Promise.all(
      workers.map(async (worker) => {
        const id = randomUUID();
        const answered = collected.wait(id, COLLECT_TIMEOUT_MS, `worker ${worker.process.pid}`);
        worker.send({ type: COLLECT, id });
        const answer = await answered;
        if (!answer.metrics)
          throw new Error(`worker ${worker.process.pid} could not collect metrics: ${answer.error ?? 'no metrics'}`);
        return answer.metrics;
      }),
    );
    // Loaded at the first scrape, not at start: the primary stays small until metrics are asked for.
    const { AggregatorRegistry } = (await import('prom-client')).default;
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  const onMessage = (worker: Worker, value: unknown) => {
    const answer = messageOf(value, COLLECTED);
    if (answer) collected.deliver(answer);
    const ask = messageOf(value, ASK_PRIMARY);
    if (ask) {
      clusterText().then(
        (text) => worker.send({ type: PRIMARY_ANSWER, id: ask.id, text }),
        (err: unknown) => worker.send({ type: PRIMARY_ANSWER, id: ask.id, error: (err as Error).message }),
      );
    }
  };
  cluster.on('message', onMessage);

  let server: http.Server | undefined;
  if (options.listen) {
    const { port, host } = options.listen;
    const starting = http.createServer(metricsOnly(clusterText, options.log)).listen(port, host);
    try {
      await once(starting, 'listening');
    } catch (err) {
      cluster.off('message', onMessage);
      throw new Error(
        `cannot listen on METRICS_PORT ${port} (METRICS_HOST ${host}): ${(err as Error).message}; set another METRICS_PORT, or METRICS_PORT=off`,
        { cause: err },
      );
    }
    server = starting;
  }
  return {
    port: server ? (server.address() as { port: number }).port : undefined,
    async close() {
      cluster.off('message', onMessage);
      if (server) await once(server.close(), 'close');
    },
  };
}

/** A bare request handler serving only GET /metrics: METRICS_PORT, for one node or a cluster's primary. */
export function metricsOnly(text: () => Promise<string>, log: Logger): RequestListener {
  return function serveMetricsOnly(req, res) {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    text().then(
      (body) => {
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(body);
      },
      (err: unknown) => {
        log.error({ event: 'metrics.failed', err }, 'could not collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
      },
    );
  };
}
