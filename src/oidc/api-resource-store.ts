import type { Queryable } from '../db/pool.ts';

export interface ApiResourceRow {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  /** Seconds; null only for APIs created before `apis create` stored its default (then defaultApiTokenTtl). */
  access_token_ttl: number | null;
  signing_alg: string;
  created_at: Date;
}

const COLUMNS = 'id, identifier, name, scopes, access_token_ttl, signing_alg, created_at';
const insert = {
  name: 'api_resources.insert',
  text: `insert into api_resources (id, identifier, name, scopes, access_token_ttl, signing_alg) values ($1, $2, $3, $4, $5, $6) returning ${COLUMNS}`,
};
const findByIdentifier = {
  name: 'api_resources.find_by_identifier',
  text: `select ${COLUMNS} from api_resources where identifier = $1`,
};
const list = {
  name: 'api_resources.list',
  text: `select ${COLUMNS} from api_resources order by created_at, identifier`,
};
const remove = {
  name: 'api_resources.delete',
  text: 'delete from api_resources where identifier = $1 or id = $1 returning identifier',
};

/** Servers cache APIs by identifier (db/notified-cache.ts) and drop an entry when it arrives on this channel. */
export const APIS_CHANNEL = 'latchkey_apis';
const notifyChanged = { name: 'api_resources.notify_changed', text: `select pg_notify('${APIS_CHANNEL}', $1)` };

export function createApiResourceStore(db: Queryable) {
  // Every change tells the servers' caches; inside a transaction it is delivered on commit.
  const changed = async (identifier: string) => {
    await db.query({ ...notifyChanged, values: [identifier] });
  };
  return {
    async insert(row: Omit<ApiResourceRow, 'created_at'>): Promise<ApiResourceRow> {
      const { rows } = await db.query<ApiResourceRow>({
        ...insert,
        values: [row.id, row.identifier, row.name, row.scopes, row.access_token_ttl, row.signing_alg],
      });
      await changed(row.identifier);
      return rows[0]!;
    },
    async findByIdentifier(identifier: string): Promise<ApiResourceRow | undefined> {
      return (await db.query<ApiResourceRow>({ ...findByIdentifier, values: [identifier] })).rows[0];
    },
    async list(): Promise<ApiResourceRow[]> {
      return (await db.query<ApiResourceRow>(list)).rows;
    },
    async delete(identifierOrId: string): Promise<boolean> {
      const { rows } = await db.query<{ identifier: string }>({ ...remove, values: [identifierOrId] });
      for (const row of rows) await changed(row.identifier);
      return rows.length > 0;
    },
  };
}
export type ApiResourceStore = ReturnType<typeof createApiResourceStore>;
