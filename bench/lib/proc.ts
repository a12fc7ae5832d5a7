import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * CPU time and memory of processes, read from /proc (Linux). utime + stime are in clock ticks
 * (usually 100 per second), so a measurement needs a few hundred ticks to be meaningful: each
 * scenario runs a fixed number of operations large enough for that.
 */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  ppid: number;
  cpuMs: number;
}

/** utime + stime (ms) and parent of one process; undefined when it is gone. */
function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { pid, ppid, cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND };
}

/** Resident set size of a process in MiB. */
export function rssMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** A process and its descendants (a cluster primary, its workers, and any helper they started). */
export function processTree(root: number): number[] {
  const parents = new Map(allPids().map((pid) => [pid, procStat(pid)?.ppid]));
  const tree = [root];
  for (let i = 0; i < tree.length; i += 1) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** The direct children of a process (a cluster primary's workers). */
export function childrenOf(root: number): number[] {
  return allPids().filter((pid) => procStat(pid)?.ppid === root);
}

/**
 * The processes of one PostgreSQL cluster: every child of its postmaster whose command line is
 * `postgres: ...` (backends, walwriter, checkpointer, ...). `database` narrows it to the backends
 * serving that database (their title is `postgres: user database host(port) state`).
 */
export function postgresPids(postmaster: number, database?: string): number[] {
  return allPids().filter((pid) => {
    if (procStat(pid)?.ppid !== postmaster) return false;
    const line = cmdline(pid);
    if (!line.startsWith('postgres:')) return false;
    return database === undefined || line.split(' ').includes(database);
  });
}

/** CPU ms per pid now; compare two snapshots with cpuDelta. */
export function cpuSnapshot(pids: number[]): Map<number, number> {
  const snapshot = new Map<number, number>();
  for (const pid of pids) {
    const stat = procStat(pid);
    if (stat) snapshot.set(pid, stat.cpuMs);
  }
  return snapshot;
}

/** CPU ms spent between two snapshots; a pid only in `after` started during the interval and counts from zero. */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * What a node process's threads do: its JavaScript (the main thread), V8's helper threads
 * (parallel and concurrent garbage collection, compilation: named `V8Worker`), libuv's thread
 * pool (argon2 hashing: `libuv-worker`), and anything else.
 */
export type ThreadKind = 'main' | 'v8' | 'threadpool' | 'other';

function threadKind(pid: number, tid: number, comm: string): ThreadKind {
  if (tid === pid) return 'main';
  if (comm.startsWith('V8Worker')) return 'v8';
  if (comm.startsWith('libuv-worker')) return 'threadpool';
  return 'other';
}

/**
 * CPU ms per thread kind over `pids`, from each thread's `schedstat` (nanoseconds on the CPU, so
 * finer than the clock ticks of `stat`); compare two snapshots with threadCpuDelta. A thread is
 * keyed by pid/tid, so one that ends between two snapshots drops out of both sums.
 */
export function threadCpuSnapshot(pids: number[]): Map<string, { kind: ThreadKind; ms: number }> {
  const snapshot = new Map<string, { kind: ThreadKind; ms: number }>();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        snapshot.set(`${pid}/${tid}`, { kind: threadKind(pid, Number(tid), comm), ms: ns / 1e6 });
      } catch {
        // The thread ended while it was being read.
      }
    }
  }
  return snapshot;
}

/** CPU ms per thread kind between two thread snapshots (threads present in both). */
export function threadCpuDelta(
  before: Map<string, { kind: ThreadKind; ms: number }>,
  after: Map<string, { kind: ThreadKind; ms: number }>,
): Record<ThreadKind, number> {
  const total: Record<ThreadKind, number> = { main: 0, v8: 0, threadpool: 0, other: 0 };
  for (const [key, { kind, ms }] of after) {
    const then = before.get(key);
    if (then) total[kind] += ms - then.ms;
  }
  return total;
}

/** The parent (postmaster) of a PostgreSQL backend. */
export function parentOf(pid: number): number | undefined {
  return procStat(pid)?.ppid;
}

/**
 * The executable a process runs (/proc/<pid>/exe). Not its `comm`: Node 24 names its main thread,
 * and so the process, "MainThread".
 */
export function executableOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}
