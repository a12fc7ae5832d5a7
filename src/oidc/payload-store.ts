import type { Queryable } from '../db/pool.ts';

/**
 * SQL over oidc_payloads, the one table behind every oidc-provider model. Callers pass digests
 * (see adapter.ts), never raw ids. Statement names are stable so each connection prepares them once.
 */
const upsert = {
  name: 'oidc_payloads.upsert',
  text: `insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
         values ($1, $2, $3::jsonb, $4, $5, $6, case when $7::int is null then null else now() + make_interval(secs => $7::int) end)
         on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
           uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`,
};
const COLUMNS = `payload, floor(extract(epoch from consumed_at))::int as consumed`;
const LIVE = `(expires_at is null or expires_at > now())`;
const findById = {
  name: 'oidc_payloads.find',
  text: `select ${COLUMNS} from oidc_payloads where model = $1 and id = $2 and ${LIVE}`,
};
const findByUid = {
  name: 'oidc_payloads.find_by_uid',
  text: `select ${COLUMNS} from oidc_payloads where model = $1 and uid = $2 and ${LIVE} limit 1`,
};
const findByUserCode = {
  name: 'oidc_payloads.find_by_user_code',
  text: `select ${COLUMNS} from oidc_payloads where model = $1 and user_code = $2 and ${LIVE} limit 1`,
};
const claim = {
  name: 'oidc_payloads.claim',
  text: `insert into oidc_payloads (model, id, payload, expires_at)
         values ($1, $2, '{}'::jsonb, now() + make_interval(secs => $3::int))
         on conflict (model, id) do update set payload = oidc_payloads.payload
           where oidc_payloads.expires_at is not null and oidc_payloads.expires_at <= now()
         returning id`,
};
const consume = {
  name: 'oidc_payloads.consume',
  text: `update oidc_payloads set consumed_at = now()
         where model = $1 and id = $2 and consumed_at is null and ${LIVE} returning id`,
};
const destroy = { name: 'oidc_payloads.destroy', text: 'delete from oidc_payloads where model = $1 and id = $2' };
const revokeByGrantId = {
  name: 'oidc_payloads.revoke_by_grant_id',
  text: 'delete from oidc_payloads where model = $1 and grant_id = $2',
};
const revokeGrantEverywhere = {
  name: 'oidc_payloads.revoke_grant_everywhere',
  text: `delete from oidc_payloads where grant_id = $1 or (model = 'Grant' and id = $1)`,
};
const sweep = {
  name: 'oidc_payloads.sweep',
  text: `delete from oidc_payloads where ctid = any(array(
           select ctid from oidc_payloads where expires_at < now() - make_interval(secs => $2::int) limit $1))`,
};

const latestGrant = {
  name: 'oidc_payloads.latest_grant',
  text: `select payload->>'jti' as jti from oidc_payloads
         where model = 'Grant' and payload->>'accountId' = $1 and payload->>'clientId' = $2 and ${LIVE}
         order by (payload->>'iat')::bigint desc limit 1`,
};
const grantsOfAccount = {
  name: 'oidc_payloads.grants_of_account',
  text: `select payload->>'jti' as grant_id, payload->>'clientId' as client_id, to_timestamp((payload->>'iat')::bigint) as created_at,
           expires_at, payload->'openid'->>'scope' as scope
         from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1 and ${LIVE} order by created_at desc`,
};
const revokeGrantsOfAccount = {
  name: 'oidc_payloads.revoke_grants_of_account',
  text: `with grants as (
           select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1
         ), tokens as (
           delete from oidc_payloads where grant_id in (select id from grants)
         ), sessions as (
           delete from oidc_payloads where model = 'Session' and payload->>'accountId' = $1
         )
         delete from oidc_payloads where model = 'Grant' and id in (select id from grants)`,
};

export interface AccountGrant { grant_id: string; client_id: string; created_at: Date; expires_at: Date | null; scope: string | null }

export interface StoredRow { payload: Record<string, unknown>; consumed: number | null }

export interface UpsertRow {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
  expiresIn: number | null;
}

export function createPayloadStore(db: Queryable) {
  return {
    async upsert(row: UpsertRow): Promise<void> {
      await db.query({ ...upsert, values: [row.model, row.id, JSON.stringify(row.payload), row.grantId, row.uid, row.userCode, row.expiresIn] });
    },
    async find(model: string, id: string): Promise<StoredRow | undefined> {
      const { rows } = await db.query<StoredRow>({ ...findById, values: [model, id] });
      return rows[0];
    },
    async findByUid(model: string, uid: string): Promise<StoredRow | undefined> {
      const { rows } = await db.query<StoredRow>({ ...findByUid, values: [model, uid] });
      return rows[0];
    },
    async findByUserCode(model: string, userCode: string): Promise<StoredRow | undefined> {
      const { rows } = await db.query<StoredRow>({ ...findByUserCode, values: [model, userCode] });
      return rows[0];
    },
    /**
     * Inserts a placeholder row unless a live one exists; true when this call created it.
     * One statement, so two concurrent callers cannot both see "absent".
     */
    async claim(model: string, id: string, ttlSeconds: number): Promise<boolean> {
      const { rowCount } = await db.query({ ...claim, values: [model, id, ttlSeconds] });
      return rowCount === 1;
    },
    /** Marks the row consumed. False when it was already consumed (or is gone): the caller lost the race. */
    async consume(model: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query({ ...consume, values: [model, id] });
      return rowCount === 1;
    },
    async destroy(model: string, id: string): Promise<void> {
      await db.query({ ...destroy, values: [model, id] });
    },
    async revokeByGrantId(model: string, grantId: string): Promise<void> {
      await db.query({ ...revokeByGrantId, values: [model, grantId] });
    },
    /** Deletes the grant and every token, code and request that belongs to it. */
    async revokeGrant(grantId: string): Promise<void> {
      await db.query({ ...revokeGrantEverywhere, values: [grantId] });
    },
    /** The newest live Grant (consent) this account gave this client, if any. */
    async latestGrantId(accountId: string, clientId: string): Promise<string | undefined> {
      const { rows } = await db.query<{ jti: string }>({ ...latestGrant, values: [accountId, clientId] });
      return rows[0]?.jti;
    },
    async grantsOfAccount(accountId: string): Promise<AccountGrant[]> {
      return (await db.query<AccountGrant>({ ...grantsOfAccount, values: [accountId] })).rows;
    },
    /** Signs the account out everywhere: its sessions, grants and every token of those grants. */
    async revokeGrantsOfAccount(accountId: string): Promise<number> {
      return (await db.query({ ...revokeGrantsOfAccount, values: [accountId] })).rowCount ?? 0;
    },
    /** Deletes up to `limit` rows that expired more than `graceSeconds` ago; returns how many. */
    async sweepExpired(limit: number, graceSeconds: number): Promise<number> {
      const { rowCount } = await db.query({ ...sweep, values: [limit, graceSeconds] });
      return rowCount ?? 0;
    },
  };
}
export type PayloadStore = ReturnType<typeof createPayloadStore>;
export type GrantStore = Pick<PayloadStore, 'latestGrantId' | 'grantsOfAccount' | 'revokeGrantsOfAccount'>;
