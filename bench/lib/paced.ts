import http from 'node:http';
import type { NextRequest } from './flow.ts';

/**
 * An open-loop load generator for "p99 at N requests/s": requests are started on a fixed schedule
 * (N per second, evenly spaced), whether or not earlier ones have answered, and each latency is
 * measured from the moment the request was due, so a slow server cannot hide queueing by slowing
 * the generator down (coordinated omission). autocannon's own rate option sends each second's
 * budget in a burst at the start of the second, which measures bursts, not a steady rate.
 */
export interface PacedResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  durationS: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runPaced(options: {
  url: string;
  rate: number;
  total: number;
  request: (i: number) => NextRequest;
  isOk: (status: number) => boolean;
  /** Hard stop, whatever happens. */
  maxMs: number;
  maxSockets?: number;
}): Promise<PacedResult> {
  const target = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let finished = 0;
  const started = performance.now();
  const interval = 1000 / options.rate;

  await new Promise<void>((resolve) => {
    const deadline = setTimeout(() => {
      clearInterval(ticker);
      resolve();
    }, options.maxMs);
    const done = () => {
      finished += 1;
      if (finished === options.total) {
        clearTimeout(deadline);
        resolve();
      }
    };
    const send = (i: number, dueAt: number) => {
      const spec = options.request(i);
      const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: spec.method,
          path: spec.path,
          headers: { ...spec.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
          timeout: 10_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - dueAt);
            if (options.isOk(res.statusCode ?? 0)) ok += 1;
            else errors += 1;
            done();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors += 1;
        done();
      });
      req.end(body);
    };
    // Every millisecond, start whatever is due by now (timers are not finer than that).
    const ticker = setInterval(() => {
      const now = performance.now();
      while (sent < options.total && started + sent * interval <= now) {
        send(sent, started + sent * interval);
        sent += 1;
      }
      if (sent >= options.total) clearInterval(ticker);
    }, 1);
  });
  const durationS = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rate: options.rate,
    sent,
    ok,
    errors: errors + Math.max(sent - finished, 0),
    durationS,
    achievedRate: finished / durationS,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}
