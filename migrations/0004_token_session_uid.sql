-- The digest of the session uid a code or token carries (its payload's sessionUid), so that
-- finding a token can read its Session in the same statement (oidc_payloads.find_token).
-- Rows written before this migration have none and read their Session separately.
alter table oidc_payloads add column session_uid text;

-- Sessions by uid, for that join. Without statistics (a fresh or never-analysed table) the planner
-- otherwise combines the uid index with the Session-by-account index, which reads every session.
create index oidc_payloads_session_uid on oidc_payloads (uid) where model = 'Session';
