import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { migrate } from '../../src/db/migrate.ts';
import { createOutboxStore, type OutboxStore } from '../../src/mail/outbox-store.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { createSecretBox } from '../../src/secret-box.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** A migrated database with an outbox over a pool of its own, for tests that drive the sender themselves. */
export async function outboxDatabase(
  t: TestContext,
  secretKey = randomBytes(32).toString('base64url'),
): Promise<{
  database: TestDatabase;
  pool: pg.Pool;
  outbox: OutboxStore;
  secretKey: string;
  open(): pg.Pool;
  /** Runs `fn` when the test ends, before the pools close (a sender on a timer stops there). */
  beforeClose(fn: () => Promise<void> | void): void;
}> {
  const database = await createTestDatabase();
  const pools: pg.Pool[] = [];
  const open = () => {
    const pool = new pg.Pool({ connectionString: database.url, max: 3 });
    pools.push(pool);
    return pool;
  };
  const pool = open();
  const closing: Array<() => Promise<void> | void> = [];
  t.after(async () => {
    for (const fn of closing.reverse()) await fn();
    await Promise.all(pools.map((p) => p.end()));
    await database.drop();
  });
  await migrate(pool, pino({ level: 'silent' }));
  return {
    database,
    pool,
    secretKey,
    outbox: createOutboxStore(pool, createSecretBox(secretKey)),
    open,
    beforeClose: (fn) => closing.push(fn),
  };
}

/** A logger whose JSON lines are kept, to check what was (and was not) logged. */
export function capturedLogger(): { log: Logger; lines: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines: () => text };
}

/** A one-time link's token: 256 bits, as the flows make them. */
export const newToken = () => randomBytes(32).toString('base64url');
