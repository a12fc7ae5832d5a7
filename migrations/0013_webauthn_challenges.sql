-- Passkeys (issue 16): the WebAuthn challenges we hand out, kept on the server so each is used
-- once and only where it was asked for. `binding` is the SHA-256 of what the challenge belongs
-- to: a sign-in ('interaction:' || uid) or an account page session ('account:' || session uid);
-- `account_id` is set when only that account's passkeys may answer it (registration, a passkey as
-- second factor). A challenge is consumed by the one DELETE that returns it, whatever the outcome
-- of the check that follows, so a replayed or copied assertion finds nothing. At most a handful
-- stay per binding (factor-store.ts); expired ones are swept by the janitor.
create table webauthn_challenges (
  challenge   text        primary key,
  purpose     text        not null check (purpose in ('register', 'authenticate')),
  binding     text        not null,
  account_id  text        references accounts (id) on delete cascade,
  expires_at  timestamptz not null,
  created_at  timestamptz not null default clock_timestamp()
);
create index webauthn_challenges_binding on webauthn_challenges (binding, created_at);
create index webauthn_challenges_expiry on webauthn_challenges (expires_at);
