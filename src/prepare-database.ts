import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import type { Pool } from './db/pool.ts';
import type { Logger } from './observability/logger.ts';
import { ensureKeys } from './oidc/keys.ts';
import { createSecretBox } from './secret-box.ts';

/**
 * What runs once before any process serves: migrations, the secret key, first-start signing keys.
 * Whoever owns the database runs it (the single-process server, the cluster's preparing child,
 * every CLI command); a cluster worker only resolves the secret key. Apart from services.ts so that
 * the preparing child (prepare-cluster.ts), which runs this, does not load the stores and through
 * them the engine.
 */
export async function prepareDatabase(
  pool: Pool,
  config: Config,
  log: Logger,
): Promise<{ secretKey: string; migrated: string[] }> {
  const { applied: migrated } = await migrate(pool, log);
  const secretKey = await resolveSecretKey(config, log);
  await ensureKeys(pool, createSecretBox(secretKey));
  return { secretKey, migrated };
}

/**
 * The key that seals secrets at rest. From LATCHKEY_SECRET_KEY, or (outside production) generated
 * once into the data dir so a local install keeps working across restarts.
 */
export async function resolveSecretKey(config: Config, log: Logger): Promise<string> {
  if (config.secretKey) return config.secretKey;
  const file = path.join(config.dataDir, 'secret-key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable`, { cause: err });
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  const key = randomBytes(32).toString('base64url');
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process generated it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
  log.warn(
    { event: 'config.secret_key_generated', file },
    'LATCHKEY_SECRET_KEY is unset: generated one into the data dir (set it explicitly in production)',
  );
  return key;
}
