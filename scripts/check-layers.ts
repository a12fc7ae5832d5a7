import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The code map and its rule: each top-level part of src/ (a folder, or one of the few shared files
 * directly in src/) with what it is and what it may import. Anything else directly in src/ is the
 * composition root (main, cli, server, app, cluster): it may import anything and nothing imports it
 * but another root file. Parts listed here that do not exist yet are where that code goes.
 * `npm run lint` runs this script: it fails on an import outside the table and on a cycle.
 * With `--map` it prints the table as Markdown, for the README's code map.
 */
/** What every part above db may use; DOMAIN adds the stores and policies the engine and pages build on. */
const BASE = ['config.ts', 'secret-box.ts', 'observability', 'db', 'http'];
const DOMAIN = [...BASE, 'security', 'audit', 'mail', 'accounts', 'clients'];
const LAYERS: Record<string, { what: string; imports: string[] }> = {
  'config.ts': { what: 'the zod-validated Config, built from env by the root only', imports: [] },
  'secret-box.ts': { what: 'sealing secrets at rest (AES-256-GCM under the secret key)', imports: [] },
  observability: { what: 'logger, metrics, request log', imports: ['config.ts'] },
  db: { what: 'pool and query helpers, embedded PostgreSQL, migrations', imports: ['config.ts', 'observability'] },
  http: {
    what: 'the route table every guard keys on; the shared answers (error page, 503 and 429 with Retry-After)',
    imports: [],
  },
  security: { what: 'HTTP policy: rate and size limits, HTTPS, cookie signing', imports: BASE },
  audit: { what: 'audit events: the store and what records them', imports: BASE },
  // A mail's outcome is written with its audit row (one statement), as the accounts' are.
  mail: { what: 'outbox store, sender, templates', imports: [...BASE, 'audit'] },
  accounts: { what: 'account store, passwords, claims, lockout', imports: [...BASE, 'security', 'audit', 'mail'] },
  clients: { what: 'client store, secrets, redirect policy', imports: [...BASE, 'security', 'audit'] },
  oidc: { what: 'the engine: provider configuration, adapter, keys, API resources', imports: DOMAIN },
  mfa: { what: 'second factors and the amr/acr policy', imports: [...DOMAIN, 'oidc'] },
  interactions: { what: 'login, consent, logout and error pages', imports: [...DOMAIN, 'oidc', 'mfa'] },
  // The account page is drawn in the pages' shell (views, locales, form parsing and CSRF), so it sits above interactions.
  account: { what: "the person's own pages", imports: [...DOMAIN, 'oidc', 'mfa', 'interactions'] },
  // Drawn in the pages' shell (views, locales, form parsing and CSRF), as the account page is.
  playground: { what: 'the live walk-through of the code flow', imports: [...DOMAIN, 'oidc', 'mfa', 'interactions'] },
  cli: { what: 'the commands: parse, call one service, print', imports: [...DOMAIN, 'oidc', 'mfa'] },
};

if (process.argv.includes('--map')) {
  console.log('| part of `src/` | what | may import |\n| --- | --- | --- |');
  for (const [part, { what, imports }] of Object.entries(LAYERS)) {
    console.log(`| \`${part}\` | ${what} | ${imports.map((i) => `\`${i}\``).join(', ') || '(nothing)'} |`);
  }
  process.exit(0);
}

const SRC = path.resolve(import.meta.dirname, '..', 'src');
/** src/<folder>/… -> folder; src/<file>.ts -> file (a layer if in the table, else the root). */
const partOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;
const isRoot = (part: string) => part.endsWith('.ts') && !(part in LAYERS);

/** Parts in a cycle: strongly connected components of more than one part (Tarjan). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = stack.splice(stack.indexOf(v));
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

const problems: string[] = [];
const table = new Map(Object.entries(LAYERS).map(([part, { imports }]) => [part, new Set(imports)]));
for (const cycle of cycles(table)) problems.push(`the table itself has a cycle: ${cycle.join(' <-> ')}`);

const graph = new Map<string, Set<string>>();
const parts = new Set<string>();
for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
  const file = path.join(entry.parentPath, entry.name);
  const from = partOf(file);
  parts.add(from);
  if (!isRoot(from) && !(from in LAYERS)) problems.push(`src/${from} is not in the table of scripts/check-layers.ts`);
  const text = readFileSync(file, 'utf8');
  for (const { fileName, pos } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const to = partOf(path.resolve(path.dirname(file), fileName));
    if (to === from) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
    const allowed = isRoot(from) || (!isRoot(to) && LAYERS[from]?.imports.includes(to));
    const line = text.slice(0, pos).split('\n').length;
    if (!allowed)
      problems.push(`${path.relative(process.cwd(), file)}:${line}: ${from} may not import ${to} ('${fileName}')`);
  }
}
for (const cycle of cycles(graph)) problems.push(`import cycle between ${cycle.join(', ')}`);

for (const problem of problems) console.error(problem);
console.log(`layers: ${parts.size} parts of src/, ${problems.length} problem(s)`);
process.exitCode = problems.length > 0 ? 1 : 0;
