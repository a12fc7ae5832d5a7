import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The project root: where `npm start` and `npx latchkey` run. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a Node script of ours (`src/main.ts` through tsx, or `bin/latchkey.js`) as an operator
 * would, from ROOT, with exactly `env` plus PATH; killed after `timeoutMs`.
 */
export async function runNode(
  args: string[],
  env: Record<string, string>,
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<Run> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(options.stdin ?? '');
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  return { code, signal, stdout, stderr };
}

/**
 * The lines a process wrote to stderr, without oidc-provider's "Unsupported runtime" warning:
 * the engine prints it at import on Node releases older than 22 LTS, which package.json's
 * engines already excludes; on the supported runtimes the line never appears.
 */
export function stderrLines(run: Pick<Run, 'stderr'>): string[] {
  return run.stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes('oidc-provider WARNING: Unsupported runtime'));
}
