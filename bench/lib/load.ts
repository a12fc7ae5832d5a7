import autocannon from 'autocannon';
import { type FlowOptions, type FlowState, type NextRequest, onFlowResponse, startFlow } from './flow.ts';
import { cpuDelta, cpuSnapshot, rssMiB, type ThreadKind, threadCpuDelta, threadCpuSnapshot } from './proc.ts';

/** Where the server's CPU is read: its own processes and the PostgreSQL processes it uses. */
export interface CpuSources {
  server(): number[];
  /** Backends of the benchmark database (empty for the in-memory baseline). */
  postgres(): number[];
  /** Every process of the PostgreSQL cluster (shared with anything else using it). */
  postgresAll(): number[];
  /** The server processes whose memory is reported (primary and workers, not helpers such as esbuild). */
  memory(): number[];
}

export interface Measured {
  ops: number;
  errors: number;
  durationS: number;
  opsPerS: number;
  /** Latency of one HTTP request, ms. */
  p50: number;
  p99: number;
  /** Latency of a whole operation when it takes several requests (login), ms. */
  opP50?: number | undefined;
  opP99?: number | undefined;
  serverCpuMsPerOp: number;
  pgCpuMsPerOp: number;
  totalCpuMsPerOp: number;
  pgClusterCpuMsPerOp: number;
  /** The server's CPU per operation by thread (proc.ts ThreadKind): its JavaScript, V8's helpers, the thread pool. */
  serverThreadsMsPerOp: Record<ThreadKind, number>;
  /** Peak RSS per server process during the run, MiB. */
  peakRssMiB: number[];
}

export interface LoadSpec {
  url: string;
  connections: number;
  /** Operations to run (an operation may be several requests). */
  ops: number;
  /** Requests per operation. */
  steps: number;
  requests: autocannon.Request[];
  maxMs: number;
  /** Counted per operation by the scenario: errors beyond HTTP status (wrong flow, bad body). */
  tally: Tally;
}

/** What a scenario counts itself; `lastAt` is when the last response arrived. */
export interface Tally {
  ok: number;
  errors: number;
  opLatencies: number[];
  lastAt: number;
}

function runAutocannon(spec: LoadSpec): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        amount: spec.ops * spec.steps,
        timeout: 10,
        // autocannon notices the end only at its next sample tick; sample often so it returns promptly.
        sampleInt: 100,
        requests: spec.requests,
      },
      (err, result) => {
        clearTimeout(timer);
        if (err) reject(err as Error);
        else resolve(result);
      },
    );
    // autocannon stops after `amount` requests; this bounds the time whatever happens.
    const timer = setTimeout(() => instance.stop(), spec.maxMs);
  });
}

/** Runs a load and reads the CPU the server and PostgreSQL spent on it. */
export async function measure(sources: CpuSources, spec: LoadSpec): Promise<Measured> {
  const peaks = new Map<number, number>();
  const sampleRss = () => {
    for (const pid of sources.memory()) {
      const rss = rssMiB(pid);
      if (rss !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, rss));
    }
  };
  const sampler = setInterval(sampleRss, 250);
  const serverBefore = cpuSnapshot(sources.server());
  const pgBefore = cpuSnapshot(sources.postgres());
  const clusterBefore = cpuSnapshot(sources.postgresAll());
  const threadsBefore = threadCpuSnapshot(sources.server());
  const started = performance.now();
  let result: autocannon.Result;
  try {
    result = await runAutocannon(spec);
  } finally {
    clearInterval(sampler);
  }
  // From the start to the last response (not to when autocannon reported back).
  const durationS = ((spec.tally.lastAt > started ? spec.tally.lastAt : performance.now()) - started) / 1000;
  const serverMs = cpuDelta(serverBefore, cpuSnapshot(sources.server()));
  const pgMs = cpuDelta(pgBefore, cpuSnapshot(sources.postgres()));
  const clusterMs = cpuDelta(clusterBefore, cpuSnapshot(sources.postgresAll()));
  const threadsMs = threadCpuDelta(threadsBefore, threadCpuSnapshot(sources.server()));
  sampleRss();
  const ops = spec.tally.ok;
  const lat = [...spec.tally.opLatencies].sort((a, b) => a - b);
  const pick = (p: number) =>
    lat.length ? lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] : undefined;
  const perOp = (ms: number) => (ops > 0 ? ms / ops : Number.NaN);
  return {
    ops,
    errors: spec.tally.errors + result.errors + result.timeouts,
    durationS,
    opsPerS: ops / durationS,
    p50: result.latency.p50,
    p99: result.latency.p99,
    opP50: spec.steps > 1 ? pick(50) : undefined,
    opP99: spec.steps > 1 ? pick(99) : undefined,
    serverCpuMsPerOp: perOp(serverMs),
    pgCpuMsPerOp: perOp(pgMs),
    totalCpuMsPerOp: perOp(serverMs + pgMs),
    pgClusterCpuMsPerOp: perOp(clusterMs),
    serverThreadsMsPerOp: {
      main: perOp(threadsMs.main),
      v8: perOp(threadsMs.v8),
      threadpool: perOp(threadsMs.threadpool),
      other: perOp(threadsMs.other),
    },
    peakRssMiB: [...peaks.values()].map((value) => Math.round(value)),
  };
}

type Headers = Record<string, string | string[] | undefined>;

function asRequest(next: NextRequest): autocannon.Request {
  return {
    method: next.method,
    path: next.path,
    headers: next.headers,
    ...(next.body === undefined ? {} : { body: next.body }),
  };
}

/**
 * One request per operation: `make(i)` builds the i-th request, `check` says whether the
 * response is a success.
 */
export function singleRequest(options: {
  make: (i: number) => NextRequest;
  check: (status: number, body: string) => boolean;
  tally: Tally;
}): autocannon.Request[] {
  let i = 0;
  return [
    {
      setupRequest(request) {
        return { ...request, ...asRequest(options.make(i++)) };
      },
      onResponse(status, body) {
        options.tally.lastAt = performance.now();
        if (options.check(status, body)) options.tally.ok += 1;
        else options.tally.errors += 1;
      },
    },
  ];
}

/**
 * A whole login flow per operation: `steps` generic requests, each sending what the previous
 * response asked for (flow.ts). A flow that goes wrong is abandoned: the next step returns
 * nothing, which makes autocannon start the next flow on that connection.
 */
export function flowRequests(options: {
  steps: number;
  flow: (i: number) => FlowOptions;
  tally: Tally;
  onDone?: (state: FlowState) => void;
}): autocannon.Request[] {
  let i = 0;
  const requests: autocannon.Request[] = [];
  for (let step = 0; step < options.steps; step += 1) {
    requests.push({
      setupRequest(request, context) {
        const ctx = context as { state?: FlowState };
        if (step === 0) ctx.state = startFlow(options.flow(i++));
        const next = ctx.state?.next;
        if (!next) return undefined as unknown as autocannon.Request;
        return { ...request, ...asRequest(next) };
      },
      onResponse(status, body, context, headers) {
        const state = (context as { state?: FlowState }).state;
        if (!state) return;
        options.tally.lastAt = performance.now();
        onFlowResponse(state, status, headers as Headers, body);
        const last = step === options.steps - 1;
        if (state.failure) {
          options.tally.errors += 1;
          if (options.tally.errors <= 3) process.stderr.write(`  flow failed at step ${step + 1}: ${state.failure}\n`);
          state.failure = undefined;
          state.next = undefined;
          state.steps = -1000; // counted once
        } else if (last && state.tokens) {
          options.tally.ok += 1;
          options.tally.opLatencies.push(performance.now() - state.startedAt);
          options.onDone?.(state);
        } else if (last && state.steps > 0) {
          options.tally.errors += 1;
        }
      },
    });
  }
  return requests;
}
