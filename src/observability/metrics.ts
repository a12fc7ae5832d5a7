import type { RequestListener } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import client from 'prom-client';

/** What the pool gauges read (pg's Pool has these). */
interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}
/** An audit event as far as the sign-in counters read it. */
interface CountedEvent {
  event: string;
  details?: Record<string, unknown> | undefined;
}

import { reportToPrimary } from './cluster-metrics.ts';
import type { Logger } from './logger.ts';

/**
 * Prometheus metrics, on a registry of our own (never prom-client's global one, so two servers in
 * one process keep separate counts). Labels are bounded sets: route templates and engine route
 * names, never raw paths (those carry interaction uids), client ids or account ids.
 *
 * In a cluster, /metrics reports the sum of every worker (cluster-metrics.ts), whichever worker answers.
 */
export interface Metrics {
  registry: client.Registry;
  /** Records one answered request by route and status (request-log.ts times it, once for the log and this). */
  observeRequest(ctx: Context, status: number, seconds: number): void;
  /** Hooks the engine so the tokens it issues are counted. Returns it. */
  observeProvider(provider: Provider): Provider;
  /** The audit store, counting sign-ins and lockouts as they are recorded. */
  /** Counts a recorded audit event in the sign-in metrics (audit/store.ts calls it after each record). */
  countAuditEvent(entry: CountedEvent): void;
  janitorRemoved: client.Counter;
  keyRotations: client.Counter;
  /** Mail delivery attempts by outcome: sent, retry (failed, will try again), failed (given up). */
  mails: client.Counter<'outcome'>;
  /** GET /metrics for the public port. */
  routes(): Router;
  /** A bare request handler serving only GET /metrics, for the metrics listener (METRICS_PORT). */
  listener(log: Logger): RequestListener;
}

const LOGIN_OUTCOMES = new Set(['bad_credentials', 'disabled', 'locked']);

export function createMetrics(deps: { pool: PoolCounts; clusterWorker?: boolean }): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpDuration = new client.Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP requests by method, route (template or engine route name) and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const tokensIssued = new client.Counter({
    name: 'latchkey_tokens_issued_total',
    help: 'Successful token endpoint responses by grant type',
    labelNames: ['grant_type'] as const,
    registers,
  });
  const logins = new client.Counter({
    name: 'latchkey_logins_total',
    help: 'Password sign-ins by outcome: success, bad_credentials, locked, disabled',
    labelNames: ['outcome'] as const,
    registers,
  });
  const lockouts = new client.Counter({
    name: 'latchkey_lockouts_total',
    help: 'Accounts locked after too many failed sign-ins',
    registers,
  });
  const janitorRemoved = new client.Counter({
    name: 'latchkey_janitor_rows_removed_total',
    help: 'Expired codes, tokens, sessions and interactions deleted by this node',
    registers,
  });
  const keyRotations = new client.Counter({
    name: 'latchkey_key_rotations_total',
    help: 'Scheduled signing key rotations performed by this node',
    registers,
  });
  const mails = new client.Counter({
    name: 'latchkey_mails_total',
    help: 'Mail delivery attempts by outcome: sent, retry (failed, tried again later), failed (given up)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const { pool } = deps;
  new client.Gauge({
    name: 'latchkey_db_pool_clients',
    help: 'PostgreSQL pool: open connections (total), unused ones (idle), requests queued for one (waiting)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });

  // Each (method, route, status) series is looked up once and kept: no label object per request.
  // The key space is bounded as the labels are (methods node parses, route names, statuses).
  const series = new Map<string, client.Histogram.Internal<'method' | 'route' | 'status'>>();
  const seriesOf = (method: string, route: string, status: number) => {
    const key = `${method} ${status} ${route}`;
    let found = series.get(key);
    if (!found) {
      found = httpDuration.labels(method, route, String(status));
      series.set(key, found);
    }
    return found;
  };

  // A cluster worker reports the whole cluster's sum: the primary collects every worker's
  // registry, this worker adds them up (counters and histograms add up, gauges per their aggregator).
  const clusterParts = deps.clusterWorker ? reportToPrimary(registry) : undefined;
  const text = clusterParts
    ? async () => client.AggregatorRegistry.aggregate(await clusterParts()).metrics()
    : () => registry.metrics();

  async function serveMetrics(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await text();
  }

  // Tokens the engine issued in a request, counted when its response goes out: a token request's
  // saves are written after the engine is done, and one whose write fails answers without tokens.
  const issuedIn = new WeakMap<object, string>();

  return {
    registry,
    janitorRemoved,
    keyRotations,
    mails,

    observeRequest(ctx, status, seconds) {
      // The engine runs on the request's own context, where its router leaves its route name;
      // our routers (none of whose routes is named) leave their path template.
      const matched = ctx as { _matchedRoute?: unknown; _matchedRouteName?: unknown };
      const route =
        typeof matched._matchedRouteName === 'string'
          ? matched._matchedRouteName
          : typeof matched._matchedRoute === 'string'
            ? matched._matchedRoute
            : 'unmatched';
      seriesOf(ctx.method, route, status).observe(seconds);
      const grantType = issuedIn.get(ctx);
      if (grantType !== undefined && status === 200) tokensIssued.inc({ grant_type: grantType });
    },

    observeProvider(provider) {
      provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
        // The engine runs on the request's own context: the one observeRequest is given.
        const grantType = ctx.oidc.params?.grant_type;
        issuedIn.set(ctx, typeof grantType === 'string' ? grantType : 'unknown');
      });
      return provider;
    },

    countAuditEvent(entry) {
      if (entry.event === 'login.success') logins.inc({ outcome: 'success' });
      else if (entry.event === 'login.locked') {
        lockouts.inc();
        logins.inc({ outcome: 'locked' });
      } else if (entry.event === 'login.failed') {
        const reason = String(entry.details?.reason ?? '');
        logins.inc({ outcome: LOGIN_OUTCOMES.has(reason) ? reason : 'other' });
      }
    },

    routes() {
      return new Router().get('/metrics', serveMetrics);
    },

    listener(log) {
      return function serveMetricsOnly(req, res) {
        if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        text().then(
          (body) => {
            res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body);
          },
          (err: unknown) => {
            log.error({ event: 'metrics.failed', err }, 'could not collect metrics');
            res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
          },
        );
      };
    },
  };
}
