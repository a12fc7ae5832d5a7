import type { Queryable } from '../db/pool.ts';

/**
 * The account page's reads and writes over the engine's sessions (oidc_payloads, model Session)
 * and session_devices. Session uids are digests here, as in oidc_payloads.uid.
 */
const LIVE = '(s.expires_at is null or s.expires_at > now())';

/** Records (or refreshes) the browser of a session, and forgets those of the account's ended sessions. */
const recordDevice = {
  name: 'session_devices.record',
  text: `with gone as (
           delete from session_devices d where d.account_id = $2 and d.session_uid <> $1 and not exists (
             select 1 from oidc_payloads s where s.model = 'Session' and s.uid = d.session_uid and ${LIVE})
         )
         insert into session_devices (session_uid, account_id, user_agent, ip) values ($1, $2, $3, $4)
         on conflict (session_uid) do update set account_id = excluded.account_id, user_agent = excluded.user_agent,
           ip = excluded.ip, last_seen_at = now()`,
};
const sessionsOf = {
  name: 'session_devices.sessions_of',
  text: `select s.uid as session_uid, to_timestamp((s.payload->>'loginTs')::bigint) as signed_in_at,
           d.user_agent, d.ip, coalesce(d.last_seen_at, to_timestamp((s.payload->>'loginTs')::bigint)) as last_seen_at
         from oidc_payloads s left join session_devices d on d.session_uid = s.uid
         where s.model = 'Session' and s.payload->>'accountId' = $1 and ${LIVE}
         order by last_seen_at desc nulls last limit 100`,
};
/**
 * Ends sessions of the account: the one named ($2), or all but the one named ($3 true). Tokens
 * bound to a session die with it (the engine finds no session); offline grants outlive it, as
 * after a sign-out.
 */
const endSessions = {
  name: 'session_devices.end_sessions',
  text: `with ended as (
           delete from oidc_payloads s where s.model = 'Session' and s.payload->>'accountId' = $1
             and (case when $3::boolean then s.uid is distinct from $2 else s.uid = $2 end)
           returning s.uid, s.payload->'authorizations' as authorizations
         ), devices as (
           delete from session_devices where session_uid in (select uid from ended)
         )
         select authorizations from ended`,
};
/**
 * What a password change on the account page ends: every grant of the account with its tokens
 * (refresh tokens included) and every other session; the browser that changed it stays signed in.
 */
const signOutOthers = {
  name: 'session_devices.sign_out_others',
  text: `with grants as (
           select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1
         ), tokens as (
           delete from oidc_payloads where grant_id in (select id from grants)
         ), sessions as (
           delete from oidc_payloads s where s.model = 'Session' and s.payload->>'accountId' = $1 and s.uid is distinct from $2
           returning s.uid
         ), devices as (
           delete from session_devices where session_uid in (select uid from sessions)
         )
         delete from oidc_payloads where model = 'Grant' and id in (select id from grants)`,
};

/**
 * Rows of sessions that ended without the account signing in again (expired, signed out at /logout):
 * a day after their last activity, when no session with that uid is stored any more.
 */
const sweepDevices = {
  name: 'session_devices.sweep',
  text: `delete from session_devices where session_uid in (
           select d.session_uid from session_devices d
           where d.last_seen_at < now() - interval '1 day'
             and not exists (select 1 from oidc_payloads s where s.uid = d.session_uid)
           limit $1)`,
};

/** An ended session: the apps it had signed in to, each with its session id for that app (the engine's). */
export interface EndedSession {
  authorizations: Record<string, { sid?: string }> | null;
}

export interface SessionRow {
  session_uid: string;
  signed_in_at: Date | null;
  user_agent: string | null;
  ip: string | null;
  last_seen_at: Date | null;
}

export function createAccountPageStore(db: Queryable) {
  return {
    async recordDevice(
      sessionUid: string,
      accountId: string,
      userAgent: string,
      ip: string | undefined,
    ): Promise<void> {
      await db.query({ ...recordDevice, values: [sessionUid, accountId, userAgent.slice(0, 512), ip ?? null] });
    },
    async sessionsOf(accountId: string): Promise<SessionRow[]> {
      return (await db.query<SessionRow>({ ...sessionsOf, values: [accountId] })).rows;
    },
    /** Ends one session of the account; empty when it was not (or no longer) one of theirs. */
    async endSession(accountId: string, sessionUid: string): Promise<EndedSession[]> {
      return (await db.query<EndedSession>({ ...endSessions, values: [accountId, sessionUid, false] })).rows;
    },
    async endOtherSessions(accountId: string, keepSessionUid: string): Promise<EndedSession[]> {
      return (await db.query<EndedSession>({ ...endSessions, values: [accountId, keepSessionUid, true] })).rows;
    },
    /** Janitor: deletes at most `batch` rows of sessions gone for a day; returns how many. */
    async sweep(batch = 1000): Promise<number> {
      return (await db.query({ ...sweepDevices, values: [batch] })).rowCount ?? 0;
    },
    /** Revokes every grant of the account and ends its other sessions; returns the grants revoked. */
    async signOutOthers(accountId: string, keepSessionUid: string): Promise<number> {
      return (await db.query({ ...signOutOthers, values: [accountId, keepSessionUid] })).rowCount ?? 0;
    },
  };
}
export type AccountPageStore = ReturnType<typeof createAccountPageStore>;
