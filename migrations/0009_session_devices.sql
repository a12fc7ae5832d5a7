-- The browser behind each sign-in session, for the account page's list of sessions: the engine's
-- Session payload holds only the account, the sign-in time and the apps. Keyed by the session's
-- uid digest (oidc_payloads.uid), never the raw uid. Rows of ended sessions are dropped when the
-- account signs in again, and with the account's sessions (payload-store revokeGrantsOfAccount).
create table session_devices (
  session_uid   text        primary key,
  account_id    text        not null,
  user_agent    text        not null default '',
  ip            text,
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now()
);
create index session_devices_account on session_devices (account_id);

-- The account page lists a person's own recent events.
create index audit_events_account on audit_events (account_id, id) where account_id is not null;
