import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/**
 * Takes a lock with `statement` (a LOCK TABLE, a SELECT … FOR UPDATE) in a transaction and holds
 * it, so that concurrent commands stop where they need it; `release` lets them all go at the same
 * moment. This lines commands up at the step a race is about, instead of hoping their start-ups
 * take the same time.
 */
export async function holdLock(databaseUrl: string, statement: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query(statement, values);
  return {
    /**
     * Waits (bounded) until `count` other sessions are waiting for a lock in this database. The
     * bound is generous: on a loaded machine (CI runs two test files at once on two cores) the
     * commands take several seconds to start.
     */
    async waitForWaiters(count: number) {
      let seen = 0;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(20)) {
        // Inside a transaction pg_stat_activity is read once and kept: read it afresh each time.
        await client.query('select pg_stat_clear_snapshot()');
        const { rows } = await client.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_stat_activity
           where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`,
        );
        seen = rows[0]!.waiting;
        if (seen >= count) return;
      }
      assert.fail(`${count} sessions did not reach a lock within 60 s (${seen} did)`);
    },
    async release() {
      await client.query('commit');
      await client.end();
    },
  };
}
