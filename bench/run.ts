import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { checks, type Memory, ratios, ratioTable, table, threadTable } from './lib/report.ts';
import { FULL, QUICK, type Row, type RunContext, SCENARIOS, type ScenarioName, type Sizes } from './lib/scenarios.ts';
import { ADMIN_URL, ROOT, startBaselineTarget, startLatchkeyTarget, type Target } from './lib/targets.ts';

/**
 * `npm run bench` (full, under 12 minutes) or `npm run bench -- --quick` (about a minute).
 * Starts Latchkey as a real server at operator defaults (LOG_LEVEL=info, a worker per core, the
 * default pool) on a fresh database of the machine's PostgreSQL, seeds it, runs each scenario with
 * autocannon, then the variants (LOG_LEVEL=warn on a second server; client_credentials with a
 * resource is a scenario of its own), then the same against bare oidc-provider (the baseline),
 * and prints a table plus the engine/Latchkey CPU ratios. Results go
 * to bench/results/<timestamp>.json and bench/results/latest.json. See bench/README.md.
 *
 * Options: --quick; --only=login,refresh (scenario names: see SCENARIOS; code-exchange provides
 * the tokens introspection and userinfo use); --no-baseline; --workers=N; --pool=N (DATABASE_POOL_SIZE);
 * --profile (Latchkey runs with --cpu-prof; profiles in bench/results/profiles, see profile-summary.ts);
 * --perf-map (Latchkey writes /tmp/perf-<pid>.map, so `perf record -g` names JavaScript frames);
 * --env=NAME=value (repeatable) passes a setting to Latchkey, e.g. --env=RATE_LIMIT_TOKEN_PER_MINUTE=0;
 * --no-variants skips the LOG_LEVEL=warn server; --socket=DIR connects Latchkey to the machine's
 * PostgreSQL through its Unix-domain socket in DIR (e.g. /var/run/postgresql) instead of TCP.
 */
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    'no-variants': { type: 'boolean', default: false },
    workers: { type: 'string' },
    pool: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'perf-map': { type: 'boolean', default: false },
    env: { type: 'string', multiple: true },
    scale: { type: 'string' },
    budget: { type: 'string' },
    'no-paced': { type: 'boolean', default: false },
    socket: { type: 'string' },
  },
});

// --scale=0.5 halves every measured load (warm-ups stay), for a machine too busy to finish a full
// run in its budget; --budget=S moves that budget; --no-paced skips the fixed-rate latency runs.
const scale = Number(values.scale ?? 1);
const base = values.quick ? QUICK : FULL;
const scaled = (n: number) => Math.max(1, Math.round(n * scale));
const sizes: Sizes = {
  ...base,
  discovery: scaled(base.discovery),
  logins: scaled(base.logins),
  exchanges: scaled(base.exchanges),
  refreshes: scaled(base.refreshes),
  clientCredentials: scaled(base.clientCredentials),
  introspections: scaled(base.introspections),
  userinfos: scaled(base.userinfos),
  ...(values['no-paced'] ? { pacedSeconds: 0 } : {}),
};
const budgetMs = values.budget ? Number(values.budget) * 1000 : values.quick ? 90_000 : 720_000;
const names = (values.only?.split(',').map((name) => name.trim()) ?? Object.keys(SCENARIOS)) as ScenarioName[];
for (const name of names)
  if (!(name in SCENARIOS)) throw new Error(`unknown scenario ${name} (known: ${Object.keys(SCENARIOS).join(', ')})`);
const log = (line: string) => process.stdout.write(`${line}\n`);
const began = performance.now();
const rows: Row[] = [];
const targets: Target[] = [];
const stopping: Array<Promise<void>> = [];

// Every run stops on its own; this is the net under it.
const watchdog = setTimeout(() => {
  log(`bench: over the ${budgetMs / 1000} s budget (+30 s): stopping`);
  void cleanup().finally(() => process.exit(2));
}, budgetMs + 30_000);
watchdog.unref();

async function cleanup() {
  stopping.push(
    ...targets.splice(0).map((target) =>
      target.stop().catch((err: Error) => {
        log(`stop failed: ${err.message}`);
      }),
    ),
  );
  await Promise.all(stopping);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`bench: ${signal}: stopping servers and dropping the database`);
    void cleanup().finally(() => process.exit(130));
  });
}

function loadavg() {
  return os.loadavg().map((value) => Number(value.toFixed(2)));
}

async function machine() {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  const {
    rows: [row],
  } = await client.query<{ server_version: string }>('show server_version');
  const { rows: settings } = await client.query<{ name: string; setting: string }>(
    "select name, setting from pg_settings where name in ('max_connections', 'shared_buffers', 'synchronous_commit', 'fsync')",
  );
  await client.end();
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    available_parallelism: os.availableParallelism(),
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    postgres: row?.server_version,
    postgres_settings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
    loadavg_before: loadavg(),
  };
}

function contextFor(target: Target, label?: string): RunContext {
  return { target, sizes, log, rows, pairs: 0, sessions: [], accessTokens: [], ...(label ? { label } : {}) };
}

async function runScenario(ctx: RunContext, name: ScenarioName) {
  const label = ctx.label;
  log(
    `${ctx.target.name}${label ? ` (${label})` : ''}: ${name} (at ${((performance.now() - began) / 1000).toFixed(0)} s)`,
  );
  try {
    await SCENARIOS[name](ctx);
  } catch (err) {
    log(`  ${name} failed: ${(err as Error).message}`);
    rows.push({ scenario: name, target: ctx.target.name, variant: 'failed', note: (err as Error).message });
  }
}

/**
 * Each scenario on every target in turn (Latchkey, then the bare engine), before the next scenario:
 * the machine's background load drifts over minutes, and a ratio is only as good as the two
 * figures being measured under the same conditions.
 */
async function runInterleaved(contexts: RunContext[], only = names) {
  for (const name of only) for (const ctx of contexts) await runScenario(ctx, name);
}

const info = await machine();
log(
  `bench: ${values.quick ? 'quick' : 'full'} run on ${info.cpus} CPUs (${info.cpu_model}), load average ${info.loadavg_before.join(' ')}`,
);
const rss: Memory = { idle: [], peak: [], afterLoad: [] };
const extraEnv = Object.fromEntries(
  (values.env ?? []).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
/** Scenarios run again with LOG_LEVEL=warn (the setting the bench used before it measured defaults). */
const VARIANT_SCENARIOS: ScenarioName[] = ['discovery', 'client-credentials'];
const described: Record<string, unknown> = {};

try {
  const latchkey = await startLatchkeyTarget({
    log,
    ...(values.workers ? { workers: Number(values.workers) } : {}),
    ...(values.pool ? { poolSize: Number(values.pool) } : {}),
    socketDir: values.socket,
    extraEnv,
    nodeFlags: [
      ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench', 'results', 'profiles')}`] : []),
      ...(values['perf-map'] ? ['--perf-basic-prof-only-functions', '--interpreted-frames-native-stack'] : []),
    ],
  });
  targets.push(latchkey);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  rss.idle = latchkey.rss();
  log(`latchkey: idle RSS per process (primary, workers): ${rss.idle.join(', ')} MiB`);
  // The bare engine runs beside it (idle while Latchkey is measured, and the other way round).
  const baseline = values['no-baseline'] ? undefined : await startBaselineTarget({ log });
  if (baseline) {
    targets.push(baseline);
    described.baseline = { ...baseline.describe, rss_idle_mib: baseline.rss() };
  }
  await runInterleaved(baseline ? [contextFor(latchkey), contextFor(baseline)] : [contextFor(latchkey)]);
  // Per process (primary first, then each worker): its highest RSS over every scenario.
  for (const row of rows.filter((r) => r.target === 'latchkey'))
    (row.measured?.peakRssMiB ?? []).forEach((value, i) => {
      rss.peak[i] = Math.max(rss.peak[i] ?? 0, value);
    });
  log(`latchkey: peak RSS per process under load (primary, workers): ${rss.peak.join(', ')} MiB`);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  rss.afterLoad = latchkey.rss();
  described.latchkey = { ...latchkey.describe, rss_idle_mib: rss.idle, rss_after_load_mib: rss.afterLoad };
  log(`latchkey: RSS per process after the load: ${rss.afterLoad.join(', ')} MiB`);
  targets.splice(targets.indexOf(latchkey), 1);
  await latchkey.stop();
  if (baseline) {
    targets.splice(targets.indexOf(baseline), 1);
    await baseline.stop();
  }

  const variantNames = VARIANT_SCENARIOS.filter((name) => names.includes(name));
  if (!values['no-variants'] && !('LOG_LEVEL' in extraEnv) && variantNames.length) {
    const warn = await startLatchkeyTarget({
      log,
      ...(values.workers ? { workers: Number(values.workers) } : {}),
      ...(values.pool ? { poolSize: Number(values.pool) } : {}),
      socketDir: values.socket,
      extraEnv: { ...extraEnv, LOG_LEVEL: 'warn' },
    });
    targets.push(warn);
    await runInterleaved([contextFor(warn, 'LOG_LEVEL=warn')], variantNames);
    targets.splice(targets.indexOf(warn), 1);
    await warn.stop();
  }
} finally {
  await cleanup();
}

const elapsedS = (performance.now() - began) / 1000;
const result = {
  started_at: new Date(Date.now() - elapsedS * 1000).toISOString(),
  mode: values.quick ? 'quick' : 'full',
  elapsed_s: Number(elapsedS.toFixed(1)),
  machine: { ...info, loadavg_after: loadavg() },
  targets: described,
  rows,
  ratios: ratios(rows),
  checks: checks(rows, rss),
};

log('');
log(table(rows));
for (const row of rows.filter((r) => r.variant === 'failed'))
  log(`  ${row.target} ${row.scenario} failed: ${row.note}`);
log('');
if (result.ratios.length) {
  log(
    'Bare engine CPU per operation / Latchkey CPU per operation (Latchkey: node + its PostgreSQL backends), same run:',
  );
  log('');
  log(ratioTable(result.ratios));
  log('');
  log('Node CPU ms per operation by thread (main: JavaScript; V8 helpers: garbage collection; thread pool: argon2id):');
  log('');
  log(threadTable(rows));
  log('');
  log('Latchkey / baseline throughput:');
  for (const ratio of result.ratios)
    log(`  ${`${ratio.scenario} [${ratio.variant}]`.padEnd(44)} ${ratio.throughput.toFixed(2)}x`);
  log('');
  log(
    `RSS MiB (primary, workers): idle ${rss.idle.join(', ')} (total ${rss.idle.reduce((a, b) => a + b, 0)}); ` +
      `peak under load ${rss.peak.join(', ')}; after the load ${rss.afterLoad.join(', ')}`,
  );
  log('');
}
log('Targets:');
for (const check of result.checks)
  log(`  ${check.met === undefined ? '  ' : check.met ? 'ok' : '--'} ${check.target.padEnd(44)} ${check.measured}`);
log(
  `\nbench: ${elapsedS.toFixed(0)} s, load average ${result.machine.loadavg_after.join(' ')} (other work on this machine makes throughput noisy; CPU per operation is the steadier figure)`,
);

const dir = path.join(ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const stamp = result.started_at.replace(/[:.]/g, '-');
const json = `${JSON.stringify(result, null, 2)}\n`;
await writeFile(path.join(dir, `${stamp}.json`), json);
await writeFile(path.join(dir, 'latest.json'), json);
log(`results: bench/results/${stamp}.json (and latest.json)`);
clearTimeout(watchdog);
process.exit(0);
