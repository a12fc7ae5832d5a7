import { type AccountRow, accountFromJson, accountJsonById } from '../accounts/store.ts';
import type { Queryable } from '../db/pool.ts';
import { createStatementBatch, type StatementBatch } from '../db/statement-batch.ts';
import { FORGET_CONSENT_OF_CLIENT, FORGET_CONSENTS_OF_ACCOUNT } from './consent-store.ts';

/**
 * SQL over oidc_payloads, the one table behind every oidc-provider model. Callers pass digests
 * (see adapter.ts), never raw ids. Statement names are stable so each connection prepares them once.
 */
/**
 * Seconds a consumed code or refresh token is still found after it expires (and the janitor keeps
 * it), so that a late replay meets it and revokes its grant rather than finding nothing.
 */
export const REPLAY_GRACE_SECONDS = 300;

/**
 * `insert` (an upsert of a token, returning grant_id and expires_at) and, for a refresh token,
 * its grant's expiry moved up to the token's: the engine saves a grant once, when the person
 * authorizes, so without this a chain rotated every day would still end when the grant's first
 * lifetime does. A grant nobody refreshes keeps its own expiry. Only a live grant is extended.
 * `before`: common table expressions the insert uses.
 */
const extendingGrant = (
  insert: string,
  before = '',
) => `with ${before}written as (${insert} returning grant_id, expires_at)
  update oidc_payloads g set expires_at = written.expires_at,
    payload = jsonb_set(g.payload, '{exp}', to_jsonb(ceil(extract(epoch from written.expires_at))::bigint))
  from written
  where $1 = 'RefreshToken' and g.model = ${GRANT_MODEL} and g.id = written.grant_id
    and g.expires_at > now() and g.expires_at < written.expires_at`;
/**
 * `upsert` for a batch of rows (db/statement-batch.ts), given as one JSON array: the rows a turn of
 * the event loop saves share one statement and one commit. Keys are unique within a batch (the
 * store keeps the last save of a key), as ON CONFLICT DO UPDATE requires. A save that names no
 * user code keeps the row's: the engine saves a DeviceCode found by its id again, and its user code
 * (a credential) is never in the payload to give back (adapter.ts).
 */
const insertMany = `insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, session_uid, expires_at)
         select r.model, r.id, r.payload, r.grant_id, r.uid, r.user_code, r.session_uid,
           case when r.expires_in is null then null else now() + make_interval(secs => r.expires_in) end
         from jsonb_to_recordset($1::jsonb) as r(model text, id text, payload jsonb, grant_id text, uid text,
           user_code text, session_uid text, expires_in int)
         on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
           uid = excluded.uid, user_code = coalesce(excluded.user_code, oidc_payloads.user_code),
           session_uid = excluded.session_uid, expires_at = excluded.expires_at`;
const upsertMany = { name: 'oidc_payloads.upsert_many', text: insertMany };
const COLUMNS = `payload, floor(extract(epoch from consumed_at))::int as consumed`;
/**
 * A parameter the planner does not see: read through a subquery (an InitPlan), it is planned for as
 * an unknown value. For the lookups by a batch of ids: seeing the array, PostgreSQL plans each
 * execution anew (its plan for one or two ids, or for a rare model, always looks cheaper than the
 * generic plan's guess), which cost 0.3-0.4 ms of backend CPU per statement against 0.08 for the
 * same primary key probe from the prepared plan (bench/README.md, This round). Unseen, every plan
 * costs the same and the prepared one is kept.
 */
const unseen = (param: string, type: string) => `(select ${param}::${type})::${type}`;
/**
 * The model of the grant a refresh token's save extends, unseen: the partial indexes on
 * `model = 'Grant'` are then out of a kept plan's reach, and the grant is found by primary key
 * (upsertRefreshTokensMany says why).
 */
const GRANT_MODEL = unseen("'Grant'", 'text');
/**
 * `upsertMany` for a batch holding refresh tokens, each grant's expiry moved up to its latest
 * refresh token's (see extendingGrant; the batch's other rows extend nothing). The grant is found by
 * primary key from each token's grant_id. Its model is read through a subquery (`unseen`): a
 * prepared statement's generic plan is made once and kept until the table is analysed again,
 * which autovacuum may not do for a long time (or ever, where it is off); a plan made while the
 * table was small has gone through oidc_payloads_grant_account (every Grant) and kept doing so.
 * That index is partial on the model, so with the model unseen it is out of reach and only the
 * primary key is left. So this statement is prepared, not planned at each execution as it was
 * (that cost 0.9 ms of backend CPU per statement: bench/README.md, This round).
 */
const upsertRefreshTokensMany = {
  name: 'oidc_payloads.upsert_refresh_tokens_many',
  text: `with written as (${insertMany} returning model, grant_id, expires_at),
  extended as (select grant_id, max(expires_at) as expires_at from written
    where model = 'RefreshToken' and grant_id is not null group by grant_id)
  update oidc_payloads g set expires_at = extended.expires_at,
    payload = jsonb_set(g.payload, '{exp}', to_jsonb(ceil(extract(epoch from extended.expires_at))::bigint))
  from extended
  where g.model = ${GRANT_MODEL} and g.id = extended.grant_id
    and g.expires_at > now() and g.expires_at < extended.expires_at`,
};
/** Not expired; `table` qualifies the columns in a join. */
const live = (table?: string) => {
  const column = table ? `${table}.expires_at` : 'expires_at';
  return `(${column} is null or ${column} > now())`;
};
const LIVE = live();
/** Live, or consumed and expired less than REPLAY_GRACE_SECONDS ago: what a find by id returns. */
const findable = (table?: string) => {
  const column = (name: string) => (table ? `${table}.${name}` : name);
  return `(${live(table)} or (${column('consumed_at')} is not null and ${column('expires_at')} > now() - interval '${REPLAY_GRACE_SECONDS} seconds'))`;
};
const findById = {
  name: 'oidc_payloads.find',
  text: `select ${COLUMNS} from oidc_payloads where model = $1 and id = $2 and ${findable()}`,
};
/**
 * An Interaction by id with the account it is for, as one jsonb value (null when it names none):
 * the account its sign-in chose (`result.login`), else its session's. The resume that finishes it
 * asks the engine's findAccount for that account next, which then needs no round trip of its own.
 */
const findInteraction = {
  name: 'oidc_payloads.find_interaction',
  text: `select ${COLUMNS},
           ${accountJsonById("coalesce(payload #>> '{result,login,accountId}', payload #>> '{session,accountId}')")} as account
         from oidc_payloads where model = 'Interaction' and id = $1 and ${findable()}`,
};
/**
 * A row past its expiry, not consumed, that the janitor has not yet removed (it keeps them
 * REPLAY_GRACE_SECONDS): for the engine to tell an expired device code from an unknown one.
 */
const findExpired = {
  name: 'oidc_payloads.find_expired',
  text: `select ${COLUMNS} from oidc_payloads where model = $1 and id = $2 and expires_at <= now() and consumed_at is null`,
};
/** Opaque token values look alike: the engine tries each of these models for one value. */
export const OPAQUE_TOKEN_MODELS = ['AccessToken', 'ClientCredentials', 'RefreshToken'] as const;

/**
 * Codes or tokens by id (`$1`, the ids asked for in one turn: db/statement-batch.ts), each with its
 * Grant, its Session and the grant's account (each null when gone), in one statement: the engine
 * looks for each of them next (the account through findAccount). Each is a probe of an index
 * whatever the table held when the statement was prepared: the token and its grant by primary key
 * (id first), the grant in a lateral subquery so that it is looked up by the token's grant_id and
 * never through the index of all grants; the session by uid. The model list is literal, not a
 * parameter: with an array of models PostgreSQL keeps planning the statement anew each time
 * (~0.2 ms), since its generic plan looks costlier.
 */
const tokensWithRelations = (name: string, model: string) => ({
  name,
  text: `select t.id, t.model, t.payload, floor(extract(epoch from t.consumed_at))::int as consumed,
           t.grant_id, g.payload as grant_payload, floor(extract(epoch from g.consumed_at))::int as grant_consumed,
           t.session_uid, s.payload as session_payload, s.consumed as session_consumed,
           ${accountJsonById("g.payload->>'accountId'")} as account
         from oidc_payloads t
         left join lateral (
           select payload, consumed_at from oidc_payloads g where g.id = t.grant_id and g.model = 'Grant' and ${live('g')} limit 1
         ) g on true
         left join lateral (
           select ${COLUMNS} from oidc_payloads where model = 'Session' and uid = t.session_uid and ${LIVE} limit 1
         ) s on true
         where ${model} and t.id = any(${unseen('$1', 'text[]')}) and ${findable('t')}`,
});
const findTokens = tokensWithRelations('oidc_payloads.find_tokens', `t.model = ${unseen('$2', 'text')}`);
const findOpaqueTokens = tokensWithRelations(
  'oidc_payloads.find_opaque_tokens',
  `t.model in (${OPAQUE_TOKEN_MODELS.map((model) => `'${model}'`).join(', ')})`,
);
/**
 * By uid (a Session's, found by the uid its tokens carry). The model is `unseen`: seen, 'Session'
 * offers the partial index on sessions' uids, whose plan always looks cheaper than the generic one,
 * and each execution was planned anew (0.21 ms of bind under the refresh bench's load).
 */
const findByUid = {
  name: 'oidc_payloads.find_by_uid',
  text: `select ${COLUMNS} from oidc_payloads where model = ${unseen('$1', 'text')} and uid = $2 and ${LIVE} limit 1`,
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
/**
 * Marks a batch of rows of one model consumed (db/statement-batch.ts), each only if it was not yet:
 * returns the ids this statement consumed. A row consumed by a batch on another connection at the
 * same moment is locked, re-read once that commits, and then no longer matches: of two consumers,
 * one wins. By primary key (id first, whatever the table held when the statement was prepared).
 */
const consumeMany = {
  name: 'oidc_payloads.consume_many',
  text: `update oidc_payloads set consumed_at = now()
         where model = ${unseen('$1', 'text')} and id = any(${unseen('$2', 'text[]')}) and consumed_at is null and ${LIVE} returning id`,
};
/**
 * Undoes a consume: the code or refresh token is usable again. Only for the request that consumed
 * it, when that request was refused for its parameters (adapter.ts, restoreConsumed).
 */
const unconsume = {
  name: 'oidc_payloads.unconsume',
  text: 'update oidc_payloads set consumed_at = null where model = $1 and id = $2 and consumed_at is not null',
};
/**
 * Payload field of a signed-in Session: the browser it was last used from (adapter.ts), read by
 * the account page's list of sessions. It lives and ends with the session's row.
 */
export const SESSION_BROWSER = '_browser';
export interface SessionBrowser {
  userAgent: string;
  ip: string;
  /** Epoch seconds. */
  seenAt: number;
}
/** Payload fields of refresh token rotation within REFRESH_TOKEN_REUSE_GRACE_SECONDS (see adapter.ts). */
export const ROTATED_FROM = '_rotated_from';
export const REUSED_IN_GRACE = '_reused_in_grace';
/**
 * Consumes a refresh token, or consumes it once more when it was consumed less than $3 seconds
 * ago and has not been yet: one statement, so of two simultaneous retries one wins. `again`
 * says which happened. The once-more is only for a response that was lost: when the refresh
 * token its first rotation issued has been used, the client had that response, so this use is
 * a replay (the caller revokes the grant) and cannot start a second chain beside the first.
 */
const consumeWithGrace = {
  name: 'oidc_payloads.consume_with_grace',
  text: `update oidc_payloads set consumed_at = coalesce(consumed_at, now()),
           payload = case when consumed_at is null then payload else payload || '{"${REUSED_IN_GRACE}": true}'::jsonb end
         where model = $1 and id = $2 and ${LIVE}
           and (consumed_at is null or (consumed_at > now() - make_interval(secs => $3::int) and not payload ? '${REUSED_IN_GRACE}'
             and not exists (
               select 1 from oidc_payloads rotated where rotated.model = 'RefreshToken' and rotated.grant_id = oidc_payloads.grant_id
                 and rotated.payload->>'${ROTATED_FROM}' = $2 and rotated.consumed_at is not null)))
         returning payload ? '${REUSED_IN_GRACE}' as again, grant_id`,
};
/**
 * A token of a refresh token's first rotation ($9: the digest of the token rotated). The parent
 * row is locked (FOR SHARE) and checked: if a retry already rotated the parent again, this token
 * is not written; if the retry comes while this is being written, it waits for it and then
 * revokes it (revokeRotatedFrom), so the two rotations never both stay valid. A refresh token
 * written extends its grant (extendingGrant).
 */
const upsertRotated = {
  name: 'oidc_payloads.upsert_rotated',
  text: extendingGrant(
    `insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, session_uid, expires_at)
         select $1, $2, $3::jsonb, $4, $5, $6, $7, case when $8::int is null then null else now() + make_interval(secs => $8::int) end
         where not coalesce((select reused from parent), false)
         on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
           uid = excluded.uid, user_code = excluded.user_code, session_uid = excluded.session_uid, expires_at = excluded.expires_at`,
    `parent as (
           select payload ? '${REUSED_IN_GRACE}' as reused from oidc_payloads where model = 'RefreshToken' and id = $9 for share
         ), `,
  ),
};
const revokeRotatedFrom = {
  name: 'oidc_payloads.revoke_rotated_from',
  text: `delete from oidc_payloads where grant_id = $1 and payload->>'${ROTATED_FROM}' = $2`,
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

const grantsOfAccount = {
  name: 'oidc_payloads.grants_of_account',
  text: `select payload->>'jti' as grant_id, payload->>'clientId' as client_id, to_timestamp((payload->>'iat')::bigint) as created_at,
           expires_at, payload->'openid'->>'scope' as scope, payload->'resources' as resources
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
         ), consents as (
           ${FORGET_CONSENTS_OF_ACCOUNT}
         )
         delete from oidc_payloads where model = 'Grant' and id in (select id from grants)`,
};
const revokeGrantsOfClient = {
  name: 'oidc_payloads.revoke_grants_of_client',
  text: `with grants as (
           select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1 and payload->>'clientId' = $2
         ), tokens as (
           delete from oidc_payloads where grant_id in (select id from grants)
         ), consent as (
           ${FORGET_CONSENT_OF_CLIENT}
         )
         delete from oidc_payloads where model = 'Grant' and id in (select id from grants)`,
};

export interface AccountGrant {
  grant_id: string;
  client_id: string;
  created_at: Date;
  expires_at: Date | null;
  scope: string | null;
  /** Scopes per API (resource indicator), space-separated, as the engine's Grant keeps them. */
  resources: Record<string, string> | null;
}

export interface StoredRow {
  payload: Record<string, unknown>;
  consumed: number | null;
}

export interface UpsertRow {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
  /** Digest of the session uid a code or token carries. */
  sessionUid: string | null;
  expiresIn: number | null;
  /** Digest of the refresh token whose first rotation issued this token (see upsertRotated). */
  rotatedFrom?: string | undefined;
}

/** A code or token found with what it points at (see findToken). */
export interface TokenRows {
  /** The row found, per model (ids are random: at most one in practice). */
  tokens: Map<string, StoredRow>;
  /** Its Grant when it names one (grant_id): the row, or undefined when the grant is gone. */
  grant?: { id: string; row: StoredRow | undefined };
  /** Its Session when it names one (session_uid), likewise. */
  session?: { uid: string; row: StoredRow | undefined };
  /** The account of its grant, when both are there. */
  account?: AccountRow;
}

interface TokenRowsResult {
  id: string;
  model: string;
  payload: Record<string, unknown>;
  consumed: number | null;
  grant_id: string | null;
  grant_payload: Record<string, unknown> | null;
  grant_consumed: number | null;
  session_uid: string | null;
  session_payload: Record<string, unknown> | null;
  session_consumed: number | null;
  account: Record<string, unknown> | null;
}

function tokenRows(rows: TokenRowsResult[]): TokenRows {
  const stored = (payload: Record<string, unknown> | null, consumed: number | null) =>
    payload ? { payload, consumed } : undefined;
  const found: TokenRows = { tokens: new Map() };
  for (const row of rows) {
    found.tokens.set(row.model, { payload: row.payload, consumed: row.consumed });
    if (row.grant_id !== null) found.grant = { id: row.grant_id, row: stored(row.grant_payload, row.grant_consumed) };
    if (row.session_uid !== null)
      found.session = { uid: row.session_uid, row: stored(row.session_payload, row.session_consumed) };
    if (row.account !== null) found.account = accountFromJson(row.account);
  }
  return found;
}

/**
 * The rows of one batched token read, for each id asked for, in order. An id asked for twice in
 * one batch (two requests with the same token at the same moment) gets rows of its own each time:
 * the engine changes what a find returned in place, and no request may see another's changes.
 */
function tokenRowsByRequest(ids: string[], rows: TokenRowsResult[]): TokenRows[] {
  const byId = new Map<string, TokenRowsResult[]>();
  for (const row of rows) {
    const ofId = byId.get(row.id);
    if (ofId) ofId.push(row);
    else byId.set(row.id, [row]);
  }
  const given = new Set<string>();
  return ids.map((id) => {
    const found = byId.get(id) ?? [];
    if (given.has(id)) return tokenRows(structuredClone(found));
    given.add(id);
    return tokenRows(found);
  });
}

/** Most rows in one batched statement. */
const MAX_BATCH_ROWS = 64;
const keyOf = (row: { model: string; id: string }) => `${row.model}\u0000${row.id}`;
/** The read batch's key for an opaque value, looked up as any of OPAQUE_TOKEN_MODELS. */
const OPAQUE = '';

/** A statement batch per model, made on first use: a batch's statement names its model. */
function batchPerModel<Outcome>(
  run: (model: string, ids: string[]) => Promise<Outcome[]>,
): (model: string) => StatementBatch<string, Outcome> {
  const batches = new Map<string, StatementBatch<string, Outcome>>();
  return (model) => {
    let batch = batches.get(model);
    if (!batch) {
      batch = createStatementBatch<string, Outcome>({ maxItems: MAX_BATCH_ROWS, run: (ids) => run(model, ids) });
      batches.set(model, batch);
    }
    return batch;
  };
}

export function createPayloadStore(db: Queryable) {
  /**
   * Every save of a turn in one statement: upsertMany, or upsertRefreshTokensMany when the batch
   * holds a refresh token (a token request's refresh token and access token go together: adapter.ts).
   */
  const save = createStatementBatch<UpsertRow, void>({
    maxItems: MAX_BATCH_ROWS,
    async run(rows) {
      // The last save of a key wins, as it would one statement after the other.
      const latest = new Map(rows.map((row) => [keyOf(row), row]));
      const values = [...latest.values()].map((row) => ({
        model: row.model,
        id: row.id,
        payload: row.payload,
        grant_id: row.grantId,
        uid: row.uid,
        user_code: row.userCode,
        session_uid: row.sessionUid,
        expires_in: row.expiresIn,
      }));
      const statement = rows.some((row) => row.model === 'RefreshToken') ? upsertRefreshTokensMany : upsertMany;
      await db.query({ ...statement, values: [JSON.stringify(values)] });
      return rows.map(() => undefined);
    },
  });
  /**
   * Token reads of one turn: one statement per model asked for, and one (OPAQUE) for opaque values
   * of any model.
   */
  const readBatch = batchPerModel<TokenRows>(async (model, ids) => {
    const unique = [...new Set(ids)];
    const { rows } = await db.query<TokenRowsResult>(
      model === OPAQUE ? { ...findOpaqueTokens, values: [unique] } : { ...findTokens, values: [unique, model] },
    );
    return tokenRowsByRequest(ids, rows);
  });
  const consumeBatch = batchPerModel<boolean>(async (model, ids) => {
    const { rows } = await db.query<{ id: string }>({ ...consumeMany, values: [model, [...new Set(ids)]] });
    // The same code twice in one batch: the first caller consumed it, the second lost the race.
    const won = new Set(rows.map((row) => row.id));
    return ids.map((id) => won.delete(id));
  });
  return {
    async upsert(row: UpsertRow): Promise<void> {
      if (row.rotatedFrom === undefined) return save(row);
      const values = [
        row.model,
        row.id,
        JSON.stringify(row.payload),
        row.grantId,
        row.uid,
        row.userCode,
        row.sessionUid,
        row.expiresIn,
      ];
      await db.query({ ...upsertRotated, values: [...values, row.rotatedFrom] });
    },
    /** A code or token by id, with its Grant and Session, in one round trip. */
    findToken(model: string, id: string): Promise<TokenRows> {
      return readBatch(model)(id);
    },
    /** An opaque token value as any of OPAQUE_TOKEN_MODELS, with its Grant and Session. */
    findOpaqueToken(id: string): Promise<TokenRows> {
      return readBatch(OPAQUE)(id);
    },
    async find(model: string, id: string): Promise<StoredRow | undefined> {
      const { rows } = await db.query<StoredRow>({ ...findById, values: [model, id] });
      return rows[0];
    },
    /** An Interaction, with the account it is for (see findInteraction). */
    async findInteraction(id: string): Promise<{ row: StoredRow; account: AccountRow | undefined } | undefined> {
      const { rows } = await db.query<StoredRow & { account: Record<string, unknown> | null }>({
        ...findInteraction,
        values: [id],
      });
      const found = rows[0];
      if (!found) return undefined;
      const { account, ...row } = found;
      return { row, account: account === null ? undefined : accountFromJson(account) };
    },
    /** The expired, unconsumed row, while it is kept (see findExpired). */
    async findExpired(model: string, id: string): Promise<StoredRow | undefined> {
      const { rows } = await db.query<StoredRow>({ ...findExpired, values: [model, id] });
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
    consume(model: string, id: string): Promise<boolean> {
      return consumeBatch(model)(id);
    },
    /** Marks a consumed row not consumed again (see unconsume). */
    async unconsume(model: string, id: string): Promise<void> {
      await db.query({ ...unconsume, values: [model, id] });
    },
    /**
     * consume() for a refresh token with a reuse grace: undefined when neither consumed nor
     * consumed again (already reused, too late, or gone); `again` when this was the once-more.
     */
    async consumeWithGrace(
      model: string,
      id: string,
      graceSeconds: number,
    ): Promise<{ again: boolean; grantId: string | null } | undefined> {
      const { rows } = await db.query<{ again: boolean; grant_id: string | null }>({
        ...consumeWithGrace,
        values: [model, id, graceSeconds],
      });
      return rows[0] && { again: rows[0].again, grantId: rows[0].grant_id };
    },
    /** Deletes what the first rotation of refresh token `rotatedFrom` issued (tokens written with it as ROTATED_FROM). */
    async revokeRotatedFrom(grantId: string, rotatedFrom: string): Promise<void> {
      await db.query({ ...revokeRotatedFrom, values: [grantId, rotatedFrom] });
    },
    async destroy(model: string, id: string): Promise<void> {
      await db.query({ ...destroy, values: [model, id] });
    },
    /**
     * destroy() through the save batch, for a row never consumed (an Interaction): written empty
     * and expired, it is found by nothing and swept with the other expired rows, and it shares its
     * statement and its commit with the saves beside it. A consumed row must be destroyed instead:
     * its consumption is what a late replay is found by.
     */
    expire(model: string, id: string): Promise<void> {
      return save({
        model,
        id,
        payload: {},
        grantId: null,
        uid: null,
        userCode: null,
        sessionUid: null,
        expiresIn: -1,
      });
    },
    async revokeByGrantId(model: string, grantId: string): Promise<void> {
      await db.query({ ...revokeByGrantId, values: [model, grantId] });
    },
    /** Deletes the grant and every token, code and request that belongs to it. */
    async revokeGrant(grantId: string): Promise<void> {
      await db.query({ ...revokeGrantEverywhere, values: [grantId] });
    },
    async grantsOfAccount(accountId: string): Promise<AccountGrant[]> {
      return (await db.query<AccountGrant>({ ...grantsOfAccount, values: [accountId] })).rows;
    },
    /** Signs the account out everywhere: its sessions, grants, every token of those grants, and its remembered consent. */
    /** Ends one app's access for a person: its grants with their tokens, and the consent remembered for it. */
    async revokeGrantsOfClient(accountId: string, clientId: string): Promise<number> {
      return (await db.query({ ...revokeGrantsOfClient, values: [accountId, clientId] })).rowCount ?? 0;
    },
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
