import type { Queryable } from '../db/pool.ts';
import { type SecretBox, sha256 } from '../secret-box.ts';

export type AppType = 'web' | 'spa' | 'native';
export const APP_TYPES: readonly AppType[] = ['web', 'spa', 'native'];

export interface PlaygroundClientRow {
  app_type: AppType;
  client_id: string;
  secret_sealed: string | null;
}

const findClient = {
  name: 'playground_clients.find',
  text: 'select app_type, client_id, secret_sealed from playground_clients where app_type = $1',
};
const insertClient = {
  name: 'playground_clients.insert',
  text: `insert into playground_clients (app_type, client_id, secret_sealed) values ($1, $2, $3)
         on conflict (app_type) do nothing returning app_type, client_id, secret_sealed`,
};
const findRun = {
  name: 'playground_runs.find',
  text: 'select state from playground_runs where id = $1 and expires_at > now()',
};
const saveRun = {
  name: 'playground_runs.save',
  text: `insert into playground_runs (id, state, expires_at) values ($1, $2, now() + make_interval(secs => $3))
         on conflict (id) do update set state = excluded.state, expires_at = excluded.expires_at, updated_at = now()`,
};
const removeRun = { name: 'playground_runs.delete', text: 'delete from playground_runs where id = $1' };
const sweepRuns = {
  name: 'playground_runs.sweep',
  text: `delete from playground_runs where id in
           (select id from playground_runs where expires_at < now() order by expires_at limit $1)`,
};

/**
 * The playground's rows: its own clients (the web client's secret sealed, so every node can send it)
 * and each browser's run between steps, keyed by the SHA-256 of the cookie's random id and sealed
 * (it holds a PKCE verifier and tokens). Nothing of a run lives in memory: any node serves any step.
 */
export function createPlaygroundStore(db: Queryable, box: SecretBox) {
  return {
    async findClient(appType: AppType): Promise<(PlaygroundClientRow & { secret?: string }) | undefined> {
      const { rows } = await db.query<PlaygroundClientRow>({ ...findClient, values: [appType] });
      const row = rows[0];
      return row && { ...row, ...(row.secret_sealed ? { secret: box.open(row.secret_sealed) } : {}) };
    },
    /** Records the client made for `appType`; false when another request recorded one first. */
    async recordClient(appType: AppType, clientId: string, secret: string | undefined): Promise<boolean> {
      const { rows } = await db.query({
        ...insertClient,
        values: [appType, clientId, secret ? box.seal(secret) : null],
      });
      return rows.length > 0;
    },
    async findRun<T>(runId: string): Promise<T | undefined> {
      const { rows } = await db.query<{ state: string }>({ ...findRun, values: [sha256(runId)] });
      return rows[0] ? (JSON.parse(box.open(rows[0].state)) as T) : undefined;
    },
    async saveRun(runId: string, state: unknown, ttlSeconds: number): Promise<void> {
      await db.query({ ...saveRun, values: [sha256(runId), box.seal(JSON.stringify(state)), ttlSeconds] });
    },
    async removeRun(runId: string): Promise<void> {
      await db.query({ ...removeRun, values: [sha256(runId)] });
    },
    /** Deletes up to `batch` expired runs (the janitor's, through services.sweepRetained). */
    async sweep(batch = 1000): Promise<number> {
      return (await db.query({ ...sweepRuns, values: [batch] })).rowCount ?? 0;
    },
  };
}
export type PlaygroundStore = ReturnType<typeof createPlaygroundStore>;
