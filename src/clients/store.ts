import type { Queryable } from '../db/pool.ts';

export interface ClientRow {
  client_id: string;
  name: string;
  type: 'confidential' | 'public';
  application_type: 'web' | 'native';
  secret_sealed: string | null;
  token_endpoint_auth_method: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  scope: string;
  first_party: boolean;
  /** Confidential clients only; public ones always need PKCE. */
  require_pkce: boolean;
  /** Sign-in for this app stops at "verify your email" until the account's address is verified. */
  require_verified_email: boolean;
  /** Sign-in for this app needs a second factor; a person without one sets one up first. */
  require_mfa: boolean;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `client_id, name, type, application_type, secret_sealed, token_endpoint_auth_method, redirect_uris,
  post_logout_redirect_uris, grant_types, scope, first_party, require_pkce, require_verified_email, require_mfa, metadata, created_at, updated_at`;

const insert = {
  name: 'clients.insert',
  text: `insert into clients (client_id, name, type, application_type, secret_sealed, token_endpoint_auth_method,
           redirect_uris, post_logout_redirect_uris, grant_types, scope, first_party, require_pkce, metadata, require_verified_email, require_mfa)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15) returning ${COLUMNS}`,
};
const findById = { name: 'clients.find_by_id', text: `select ${COLUMNS} from clients where client_id = $1` };
const list = { name: 'clients.list', text: `select ${COLUMNS} from clients order by created_at, client_id` };
const update = {
  name: 'clients.update',
  text: `update clients set name = $2, application_type = $3, token_endpoint_auth_method = $4, redirect_uris = $5,
           post_logout_redirect_uris = $6, grant_types = $7, scope = $8, first_party = $9, require_pkce = $10, metadata = $11::jsonb, require_verified_email = $12,
           require_mfa = $13, updated_at = now()
         where client_id = $1 returning ${COLUMNS}`,
};
const setSecret = {
  name: 'clients.set_secret',
  text: 'update clients set secret_sealed = $2, updated_at = now() where client_id = $1',
};
const remove = { name: 'clients.delete', text: 'delete from clients where client_id = $1' };

/** Servers cache client metadata (cache.ts) and drop an entry when its id arrives on this channel. */
export const CLIENTS_CHANNEL = 'latchkey_clients';
const notifyChanged = { name: 'clients.notify_changed', text: `select pg_notify('${CLIENTS_CHANNEL}', $1)` };

export type NewClientRow = Omit<ClientRow, 'created_at' | 'updated_at' | 'require_verified_email' | 'require_mfa'> & {
  require_verified_email?: boolean | undefined;
  require_mfa?: boolean | undefined;
};

export function createClientStore(db: Queryable) {
  // Every change tells the servers' caches; inside a transaction it is delivered on commit.
  const changed = async (clientId: string) => {
    await db.query({ ...notifyChanged, values: [clientId] });
  };
  return {
    async insert(row: NewClientRow): Promise<ClientRow> {
      const { rows } = await db.query<ClientRow>({
        ...insert,
        values: [
          row.client_id,
          row.name,
          row.type,
          row.application_type,
          row.secret_sealed,
          row.token_endpoint_auth_method,
          row.redirect_uris,
          row.post_logout_redirect_uris,
          row.grant_types,
          row.scope,
          row.first_party,
          row.require_pkce,
          JSON.stringify(row.metadata),
          row.require_verified_email ?? false,
          row.require_mfa ?? false,
        ],
      });
      await changed(row.client_id);
      return rows[0]!;
    },
    async findById(clientId: string): Promise<ClientRow | undefined> {
      return (await db.query<ClientRow>({ ...findById, values: [clientId] })).rows[0];
    },
    async list(): Promise<ClientRow[]> {
      return (await db.query<ClientRow>(list)).rows;
    },
    async update(row: ClientRow): Promise<ClientRow | undefined> {
      const { rows } = await db.query<ClientRow>({
        ...update,
        values: [
          row.client_id,
          row.name,
          row.application_type,
          row.token_endpoint_auth_method,
          row.redirect_uris,
          row.post_logout_redirect_uris,
          row.grant_types,
          row.scope,
          row.first_party,
          row.require_pkce,
          JSON.stringify(row.metadata),
          row.require_verified_email,
          row.require_mfa,
        ],
      });
      if (rows[0]) await changed(row.client_id);
      return rows[0];
    },
    async setSecret(clientId: string, sealed: string): Promise<boolean> {
      const done = ((await db.query({ ...setSecret, values: [clientId, sealed] })).rowCount ?? 0) > 0;
      if (done) await changed(clientId);
      return done;
    },
    async delete(clientId: string): Promise<boolean> {
      const done = ((await db.query({ ...remove, values: [clientId] })).rowCount ?? 0) > 0;
      if (done) await changed(clientId);
      return done;
    },
  };
}
export type ClientStore = ReturnType<typeof createClientStore>;
