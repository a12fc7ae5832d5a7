import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type client from 'prom-client';

/**
 * Metrics of a cluster (WEB_CONCURRENCY > 1). Each worker counts what it serves in its own
 * registry; a scrape must see the sum, whichever worker it reaches. A worker's /metrics (on the
 * metrics listener, which node:cluster shares between the workers, or on the public port when
 * METRICS_PORT = PORT) asks the primary; the primary asks every worker that is serving for its
 * registry (a worker still starting has nothing to report and could not answer yet) and sends the
 * list back; the asking worker sums them (metrics.ts). The primary only relays: it loads neither
 * prom-client nor node:http.
 */

const ASK_PRIMARY = 'latchkey:metrics.ask_primary';
const PRIMARY_ANSWER = 'latchkey:metrics.primary_answer';
const COLLECT = 'latchkey:metrics.collect';
const COLLECTED = 'latchkey:metrics.collected';
/** The primary waits this long for the workers; a worker waits a little longer for the primary. */
const COLLECT_TIMEOUT_MS = 5000;
const ASK_TIMEOUT_MS = 7000;

/** One worker's registry, as prom-client's AggregatorRegistry.aggregate takes it. */
export type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;
interface Message {
  type: string;
  id: string;
  metrics?: MetricsJson;
  parts?: MetricsJson[];
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
 * function /metrics uses to get every serving worker's registry (its own included) through the primary.
 */
export function reportToPrimary(registry: client.Registry): () => Promise<MetricsJson[]> {
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
  return async function clusterParts() {
    const id = randomUUID();
    const answered = answers.wait(id, ASK_TIMEOUT_MS, 'the cluster primary');
    process.send!({ type: ASK_PRIMARY, id });
    const answer = await answered;
    if (!answer.parts) throw new Error(`cluster metrics failed: ${answer.error ?? 'no answer'}`);
    return answer.parts;
  };
}

/** The primary's half: answers a worker's question with the registries of the workers `serving` lists. */
export function relayClusterMetrics(serving: () => Iterable<Worker>): { close(): void } {
  const collected = replies();

  async function collect(): Promise<MetricsJson[]> {
    const workers = [...serving()].filter((worker) => worker.isConnected());
    return Promise.all(
      workers.map(async (worker) => {
        const id = randomUUID();
        const answered = collected.wait(id, COLLECT_TIMEOUT_MS, `worker ${worker.process.pid}`);
        // A channel that closed meanwhile is reported here, not thrown: the worker is gone.
        worker.send({ type: COLLECT, id }, undefined, (err: Error | null) => {
          if (err) collected.deliver({ type: COLLECTED, id, error: `its channel closed (${err.message})` });
        });
        const answer = await answered;
        if (!answer.metrics)
          throw new Error(`worker ${worker.process.pid} could not collect metrics: ${answer.error ?? 'no metrics'}`);
        return answer.metrics;
      }),
    );
  }

  const onMessage = (worker: Worker, value: unknown) => {
    const answer = messageOf(value, COLLECTED);
    if (answer) collected.deliver(answer);
    const ask = messageOf(value, ASK_PRIMARY);
    if (ask) {
      // A worker that asked and then exited has no one to read the answer: the callback takes
      // the closed channel's error, which would otherwise be an unhandled 'error' on the primary.
      const reply = (message: Message) => {
        if (worker.isConnected()) worker.send(message, undefined, () => undefined);
      };
      collect().then(
        (parts) => reply({ type: PRIMARY_ANSWER, id: ask.id, parts }),
        (err: unknown) => reply({ type: PRIMARY_ANSWER, id: ask.id, error: (err as Error).message }),
      );
    }
  };
  cluster.on('message', onMessage);
  return {
    close() {
      cluster.off('message', onMessage);
    },
  };
}
