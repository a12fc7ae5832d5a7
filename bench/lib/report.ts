import type { Row } from './scenarios.ts';

const fixed = (value: number | undefined, digits: number) =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);

/** One line per scenario run, as a plain-text table (also valid Markdown). */
export function table(rows: Row[]): string {
  const header = [
    'scenario',
    'target',
    'run',
    'ops',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'server CPU ms/op',
    'PG CPU ms/op',
    'total CPU ms/op',
    'peak RSS MiB',
  ];
  const lines = rows.map((row) => {
    const m = row.measured;
    const p = row.paced;
    if (m) {
      const p50 = m.opP50 !== undefined ? `${fixed(m.opP50, 0)} (req ${m.p50})` : String(m.p50);
      const p99 = m.opP99 !== undefined ? `${fixed(m.opP99, 0)} (req ${m.p99})` : String(m.p99);
      return [
        row.scenario,
        row.target,
        row.variant,
        String(m.ops),
        fixed(m.opsPerS, 0),
        p50,
        p99,
        String(m.errors),
        fixed(m.serverCpuMsPerOp, 3),
        fixed(m.pgCpuMsPerOp, 3),
        fixed(m.totalCpuMsPerOp, 3),
        m.peakRssMiB.join('/'),
      ];
    }
    if (p) {
      return [
        row.scenario,
        row.target,
        row.variant,
        String(p.sent),
        fixed(p.achievedRate, 0),
        fixed(p.p50, 1),
        fixed(p.p99, 1),
        String(p.errors),
        '-',
        '-',
        '-',
        '-',
      ];
    }
    return [row.scenario, row.target, row.variant, '-', '-', '-', '-', '-', '-', '-', '-', '-'];
  });
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]) =>
    `| ${cells.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  return [
    render(header),
    `|${widths.map((w, i) => (i < 3 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...lines.map(render),
  ].join('\n');
}

export interface Ratio {
  scenario: string;
  /** Latchkey's run: "max" at operator defaults, or a variant ("max, LOG_LEVEL=warn"). */
  variant: string;
  throughput: number;
  /** Latchkey CPU per operation / the engine's (node + PostgreSQL for Latchkey). */
  cpuPerOp: number;
  /** The engine's CPU per operation / Latchkey's: the issue's ratio (1 = as cheap as the bare engine). */
  engineRatio: number;
  latchkeyCpuMsPerOp: number;
  latchkeyNodeMsPerOp: number;
  latchkeyPgMsPerOp: number;
  engineCpuMsPerOp: number;
}

/** Latchkey against the baseline (same scenario at full speed, same run), for every Latchkey row at full speed. */
export function ratios(rows: Row[]): Ratio[] {
  const out: Ratio[] = [];
  for (const row of rows) {
    if (row.target !== 'latchkey' || !row.variant.startsWith('max') || !row.measured?.ops) continue;
    const base = rows.find(
      (other) => other.target === 'baseline' && other.scenario === row.scenario && other.variant === 'max',
    )?.measured;
    if (!base?.ops) continue;
    out.push({
      scenario: row.scenario,
      variant: row.variant,
      throughput: row.measured.opsPerS / base.opsPerS,
      cpuPerOp: row.measured.totalCpuMsPerOp / base.totalCpuMsPerOp,
      engineRatio: base.totalCpuMsPerOp / row.measured.totalCpuMsPerOp,
      latchkeyCpuMsPerOp: row.measured.totalCpuMsPerOp,
      latchkeyNodeMsPerOp: row.measured.serverCpuMsPerOp,
      latchkeyPgMsPerOp: row.measured.pgCpuMsPerOp,
      engineCpuMsPerOp: base.totalCpuMsPerOp,
    });
  }
  return out;
}

/** The issue's table: engine CPU per op / Latchkey CPU per op (node + PostgreSQL), at operator defaults. */
const RATIO_TARGETS: Record<string, number> = {
  'discovery+jwks': 0.8,
  login: 0.75,
  userinfo: 0.5,
  client_credentials: 0.45,
  'code exchange': 0.4,
  refresh: 0.4,
};

/** The issue's ratios as a Markdown table: one line per Latchkey row at full speed. */
export function ratioTable(list: Ratio[]): string {
  const lines = [
    '| operation | run | bare engine ms/op | Latchkey ms/op (node + pg) | ratio | target ratio | met |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of list) {
    const target = r.variant === 'max' ? RATIO_TARGETS[r.scenario] : undefined;
    lines.push(
      `| ${r.scenario} | ${r.variant === 'max' ? 'defaults' : r.variant.replace(/^max, /, '')} | ${r.engineCpuMsPerOp.toFixed(3)} | ` +
        `${r.latchkeyCpuMsPerOp.toFixed(3)} (${r.latchkeyNodeMsPerOp.toFixed(3)} + ${r.latchkeyPgMsPerOp.toFixed(3)}) | ` +
        `${r.engineRatio.toFixed(2)}× | ${target === undefined ? '' : `≥ ${target}×`} | ${target === undefined ? '' : r.engineRatio >= target ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Where each side's node CPU goes, by thread (load.ts serverThreadsMsPerOp): JavaScript on the
 * main thread, V8's helper threads (garbage collection), the thread pool (argon2id). One line per
 * scenario both sides ran at full speed with the defaults.
 */
export function threadTable(rows: Row[]): string {
  const lines = [
    '| operation | Latchkey main | engine main | Latchkey V8 helpers | engine V8 helpers | Latchkey thread pool | engine thread pool | Latchkey PostgreSQL |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    if (row.target !== 'latchkey' || row.variant !== 'max' || !row.measured?.ops) continue;
    const base = rows.find(
      (other) => other.target === 'baseline' && other.scenario === row.scenario && other.variant === 'max',
    )?.measured;
    if (!base?.ops) continue;
    const ours = row.measured.serverThreadsMsPerOp;
    const theirs = base.serverThreadsMsPerOp;
    lines.push(
      `| ${row.scenario} | ${fixed(ours.main, 3)} | ${fixed(theirs.main, 3)} | ${fixed(ours.v8, 3)} | ${fixed(theirs.v8, 3)} | ` +
        `${fixed(ours.threadpool, 3)} | ${fixed(theirs.threadpool, 3)} | ${fixed(row.measured.pgCpuMsPerOp, 3)} |`,
    );
  }
  return lines.join('\n');
}

export interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** Memory as the bench measured it: MiB per process, the primary first, then the workers. */
export interface Memory {
  idle: number[];
  /** Highest RSS of each process over every scenario. */
  peak: number[];
  afterLoad: number[];
}

const MB = 1e6 / 1048576; // MiB per MB

/** The issue's targets, checked against this run. */
export function checks(rows: Row[], rss: Memory): Check[] {
  const out: Check[] = [];
  const add = (target: string, value: number | undefined, unit: string, ok: (v: number) => boolean, digits = 2) => {
    out.push({
      target,
      measured: value === undefined || Number.isNaN(value) ? 'not run' : `${value.toFixed(digits)} ${unit}`,
      met: value === undefined || Number.isNaN(value) ? undefined : ok(value),
    });
  };
  const list = ratios(rows).filter((r) => r.variant === 'max');
  for (const [scenario, target] of Object.entries(RATIO_TARGETS)) {
    const found = list.find((r) => r.scenario === scenario);
    add(`${scenario} >= ${target}x the engine (CPU/op)`, found?.engineRatio, 'x', (v) => v >= target);
  }
  const sum = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) : undefined);
  add('primary RSS <= 80 MB (peak)', rss.peak[0], 'MiB', (v) => v <= 80 * MB, 0);
  add(
    'worker RSS under load <= 250 MB (max peak)',
    rss.peak.length > 1 ? Math.max(...rss.peak.slice(1)) : undefined,
    'MiB',
    (v) => v <= 250 * MB,
    0,
  );
  add('idle RSS, primary + workers <= 250 MB', sum(rss.idle), 'MiB', (v) => v <= 250 * MB, 0);
  return out;
}
