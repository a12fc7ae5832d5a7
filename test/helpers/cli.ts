import { main } from '../../src/cli.ts';
import type { Config } from '../../src/config.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `latchkey <args>` in this process, on the database `env` names, with `stdin` as its input. */
export async function runCli(args: string[], env: Record<string, string | undefined>, stdin = ''): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, env, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    stdin: async () => stdin,
  });
  return { code, stdout, stderr };
}

/** `latchkey <args>` against a running test server's database (its secret key, quiet logs). */
export function runCliOn(
  idp: { config: Pick<Config, 'databaseUrl' | 'secretKey'> },
  args: string[],
  stdin = '',
): Promise<CliRun> {
  return runCli(
    args,
    { DATABASE_URL: idp.config.databaseUrl, LATCHKEY_SECRET_KEY: idp.config.secretKey, LOG_LEVEL: 'silent' },
    stdin,
  );
}
