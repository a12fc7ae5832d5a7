import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type SpawnedServer, spawnServer } from './spawned-server.ts';

/** What one process of the cluster loaded: module URLs and paths, and Node's own modules. */
export interface LoadedModules {
  modules: string[];
  builtins: string[];
}

/**
 * A cluster (WEB_CONCURRENCY=2) started from source with record-imports.ts preloaded: once it has
 * stopped, `loaded` tells what the primary and each worker loaded.
 */
export async function spawnRecordedCluster(
  t: TestContext,
  env: Record<string, string>,
): Promise<{ server: SpawnedServer; loaded(role: 'primary' | 'worker'): Promise<LoadedModules[]> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-imports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const server = await spawnServer(t, {
    env: { WEB_CONCURRENCY: '2', ...env, RECORD_IMPORTS_DIR: dir },
    command: [process.execPath, '--import', 'tsx', '--import', './test/helpers/record-imports.ts', 'src/main.ts'],
  });
  const loaded = async (role: 'primary' | 'worker') => {
    const files = (await readdir(dir)).filter((name) => name.startsWith(`${role}-`));
    return Promise.all(
      files.map(async (name) => {
        const recorded = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as {
          esm: string[];
          cjs: string[];
          builtins: string[];
        };
        return { modules: [...recorded.esm, ...recorded.cjs], builtins: recorded.builtins };
      }),
    );
  };
  return { server, loaded };
}
