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
  throughput: number;
  cpuPerOp: number;
}

/** Latchkey against the baseline, where both ran the same scenario at full speed. */
export function ratios(rows: Row[]): Ratio[] {
  const out: Ratio[] = [];
  for (const row of rows) {
    if (row.target !== 'latchkey' || row.variant !== 'max' || !row.measured) continue;
    const base = rows.find(
      (other) => other.target === 'baseline' && other.scenario === row.scenario && other.variant === 'max',
    )?.measured;
    if (!base) continue;
    out.push({
      scenario: row.scenario,
      throughput: row.measured.opsPerS / base.opsPerS,
      cpuPerOp: row.measured.totalCpuMsPerOp / base.totalCpuMsPerOp,
    });
  }
  return out;
}

export interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue's targets, checked against this run. */
export function checks(rows: Row[], rss: { idle: number[]; peak: number[] }): Check[] {
  const m = (scenario: string) =>
    rows.find((row) => row.target === 'latchkey' && row.scenario === scenario && row.variant === 'max')?.measured;
  const paced = (scenario: string) =>
    rows.find((row) => row.target === 'latchkey' && row.scenario === scenario && row.variant.startsWith('paced'))
      ?.paced;
  const out: Check[] = [];
  const add = (target: string, value: number | undefined, unit: string, ok: (v: number) => boolean, digits = 2) => {
    out.push({
      target,
      measured: value === undefined || Number.isNaN(value) ? 'not run' : `${value.toFixed(digits)} ${unit}`,
      met: value === undefined || Number.isNaN(value) ? undefined : ok(value),
    });
  };
  add('login >= 45/s', m('login')?.opsPerS, '/s', (v) => v >= 45, 1);
  add('login <= 30 ms CPU', m('login')?.totalCpuMsPerOp, 'ms', (v) => v <= 30, 1);
  add('code exchange <= 1.1 ms CPU', m('code exchange')?.totalCpuMsPerOp, 'ms', (v) => v <= 1.1, 3);
  add('code exchange >= 1000/s', m('code exchange')?.opsPerS, '/s', (v) => v >= 1000, 0);
  add('code exchange p99 <= 25 ms at 500/s', paced('code exchange')?.p99, 'ms', (v) => v <= 25, 1);
  add('refresh >= 1000/s', m('refresh')?.opsPerS, '/s', (v) => v >= 1000, 0);
  add('refresh <= 1.0 ms CPU', m('refresh')?.totalCpuMsPerOp, 'ms', (v) => v <= 1.0, 3);
  add('client_credentials <= 0.3 ms CPU', m('client_credentials')?.totalCpuMsPerOp, 'ms', (v) => v <= 0.3, 3);
  add('client_credentials >= 3000/s', m('client_credentials')?.opsPerS, '/s', (v) => v >= 3000, 0);
  add('client_credentials p99 <= 10 ms at 1500/s', paced('client_credentials')?.p99, 'ms', (v) => v <= 10, 1);
  add('introspection >= 3500/s', m('introspection')?.opsPerS, '/s', (v) => v >= 3500, 0);
  for (const ratio of ratios(rows)) {
    if (['code exchange', 'refresh', 'client_credentials', 'introspection', 'userinfo'].includes(ratio.scenario)) {
      add(`${ratio.scenario} >= 0.8x baseline throughput`, ratio.throughput, 'x', (v) => v >= 0.8, 2);
    }
  }
  add(
    'RSS idle <= 100 MB per process (max)',
    rss.idle.length ? Math.max(...rss.idle) : undefined,
    'MiB',
    (v) => v <= (100 * 1e6) / 1048576,
    0,
  );
  add(
    'RSS under load <= 250 MB per worker (max)',
    rss.peak.length ? Math.max(...rss.peak) : undefined,
    'MiB',
    (v) => v <= (250 * 1e6) / 1048576,
    0,
  );
  return out;
}
