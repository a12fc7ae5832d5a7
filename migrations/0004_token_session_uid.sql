-- The digest of the session uid a code or token carries (its payload's sessionUid), so that
-- finding a token can read its Session in the same statement (oidc_payloads.find_token).
-- Rows written before this migration have none and read their Session separately.
alter table oidc_payloads add column session_uid text;
