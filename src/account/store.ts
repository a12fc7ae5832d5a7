import type { Queryable } from '../db/pool.ts';
import { SESSION_BROWSER } from '../oidc/payload-store.ts';

/**
 * The account page's reads and writes over the engine's sessions (oidc_payloads, model Session).
 * Session uids are digests here, as in oidc_payloads.uid.
 */
const LIVE = '(s.expires_at is null or s.expires_at > now())';

/** Each live session with the browser it was last used from (SESSION_BROWSER), most recent first. */
const sessionsOf = {
  name: 'account_sessions.sessions_of',
  text: `select s.uid as session_uid, to_timestamp((s.payload->>'loginTs')::bigint) as signed_in_at,
           s.payload->'${SESSION_BROWSER}'->>'userAgent' as user_agent, s.payload->'${SESSION_BROWSER}'->>'ip' as ip,
           to_timestamp(coalesce((s.payload->'${SESSION_BROWSER}'->>'seenAt')::bigint, (s.payload->>'loginTs')::bigint)) as last_seen_at
         from oidc_payloads s
         where s.model = 'Session' and s.payload->>'accountId' = $1 and ${LIVE}
         order by last_seen_at desc nulls last limit 100`,
};
/**
 * Ends sessions of the account: the one named ($2), or all but the one named ($3 true). Tokens
 * bound to a session die with it (the engine finds no session); offline grants outlive it, as
 * after a sign-out.
 */
const endSessions = {
  name: 'account_sessions.end_sessions',
  text: `delete from oidc_payloads s where s.model = 'Session' and s.payload->>'accountId' = $1
           and (case when $3::boolean then s.uid is distinct from $2 else s.uid = $2 end)
         returning s.payload->'authorizations' as authorizations`,
};
/**
 * What a password change on the account page ends: every grant of the account with its tokens
 * (refresh tokens included) and every other session; the browser that changed it stays signed in.
 */
const signOutOthers = {
  name: 'account_sessions.sign_out_others',
  text: `with grants as (
           select id from oidc_payloads where model = 'Grant' and payload->>'accountId' = $1
         ), tokens as (
           delete from oidc_payloads where grant_id in (select id from grants)
         ), sessions as (
           delete from oidc_payloads s where s.model = 'Session' and s.payload->>'accountId' = $1 and s.uid is distinct from $2
         )
         delete from oidc_payloads where model = 'Grant' and id in (select id from grants)`,
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
    /** Revokes every grant of the account and ends its other sessions; returns the grants revoked. */
    async signOutOthers(accountId: string, keepSessionUid: string): Promise<number> {
      return (await db.query({ ...signOutOthers, values: [accountId, keepSessionUid] })).rowCount ?? 0;
    },
  };
}
export type AccountPageStore = ReturnType<typeof createAccountPageStore>;
