import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Summarises V8 CPU profiles (from `npm run bench -- --profile`, written by node --cpu-prof into
 * bench/results/profiles): self time by function and by package, heaviest first.
 * Usage: node --import tsx bench/profile-summary.ts [dir-or-file ...] [--top=40] [--inclusive=src/]
 * (--inclusive: time with callees, for functions whose name or file contains the text).
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const top = Number(args.find((arg) => arg.startsWith('--top='))?.slice(6) ?? 40);
const inputs = args.filter((arg) => !arg.startsWith('--'));
if (inputs.length === 0) inputs.push(path.join(import.meta.dirname, 'results', 'profiles'));

const files: string[] = [];
for (const input of inputs) {
  if (input.endsWith('.cpuprofile')) files.push(input);
  else
    files.push(
      ...(await readdir(input)).filter((name) => name.endsWith('.cpuprofile')).map((name) => path.join(input, name)),
    );
}

const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
// Inclusive time: a sample counts for every function on its stack (once per function).
const inclusive = new Map<string, number>();
const grep = args.find((arg) => arg.startsWith('--inclusive='))?.slice(12);
let total = 0;
for (const file of files) {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const label = (node: Node) =>
    `${node.callFrame.functionName || '(anonymous)'}  ${node.callFrame.url
      .replace(/^file:\/\//, '')
      .replace(/.*\/node_modules\//, 'nm:')
      .replace(/.*\/work\/main\//, '')}:${node.callFrame.lineNumber + 1}`;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = nodes.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || (functionName === '(program)' && !url)) {
      if (functionName === '(idle)') return;
    }
    total += ms;
    if (grep !== undefined) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
        const key = label(nodes.get(at)!);
        if (!seen.has(key) && key.includes(grep)) inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
        seen.add(key);
      }
    }
    const where = url
      .replace(/^file:\/\//, '')
      .replace(/.*\/node_modules\//, 'nm:')
      .replace(/.*\/work\/main\//, '');
    const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    const pkg = url.includes('/node_modules/')
      ? url
          .replace(/.*\/node_modules\//, '')
          .split('/')
          .slice(0, url.includes('/node_modules/@') ? 2 : 1)
          .join('/')
      : url.startsWith('node:')
        ? url
        : url.includes('/work/main/')
          ? url
              .replace(/.*\/work\/main\//, '')
              .split('/')
              .slice(0, 2)
              .join('/')
          : functionName;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  });
}

const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (of ${total.toFixed(0)} ms sampled in ${files.length} profiles)`);
  for (const [key, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
};
if (grep !== undefined) {
  print(`Inclusive time of functions matching "${grep}"`, inclusive);
} else {
  print('Self time by package', byPackage);
  print('Self time by function', byFunction);
}
