-- One-time links mailed to a person (issue 15): reset a forgotten password, verify an address,
-- accept an invitation, confirm a new address. Only the SHA-256 of the token is stored (the token
-- is a bearer secret: a dump or a replica must not let anyone use it). A token is used by one
-- atomic UPDATE that sets used_at only while it is unused and unexpired (single use under races).
--
-- password_fingerprint: for reset and invitation links, the SHA-256 of the account's password hash
-- when the link was made. The link works only while it still matches, so any password change
-- (a reset, `users set-password`, the account page) voids the links issued before it, without
-- every place that changes a password having to know about this table.
create table account_tokens (
  token_hash            bytea       primary key,
  kind                  text        not null check (kind in ('reset', 'verify', 'invite', 'email_change')),
  account_id            text        not null references accounts (id) on delete cascade,
  -- For email_change: the new address; for verify: the address the link confirms (an address
  -- changed since no longer matches, and the link confirms nothing).
  email                 text,
  password_fingerprint  bytea,
  expires_at            timestamptz not null,
  used_at               timestamptz,
  created_at            timestamptz not null default now()
);
-- "A newer request voids older links" and the account's deletion look tokens up by account.
create index account_tokens_account on account_tokens (account_id, kind);
-- The janitor deletes used and expired links.
create index account_tokens_expires on account_tokens (expires_at);

-- Per client: sign-in for this app stops at "verify your email" until the account's address is
-- verified. Off for every client unless an operator asks (clients create/update --require-verified-email).
alter table clients add column require_verified_email boolean not null default false;
