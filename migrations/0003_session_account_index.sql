-- "Sign this person out everywhere" (users revoke-grants, users delete) deletes their sessions
-- by account; without this index that is a scan of every stored token.
create index oidc_payloads_session_account on oidc_payloads ((payload->>'accountId')) where model = 'Session';
