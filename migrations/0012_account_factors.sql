-- Second factors (issue 16): authenticator apps (TOTP, RFC 6238), passkeys (WebAuthn) and
-- recovery codes, one row each, all kinds in one table so that "does this person have a factor"
-- and "remove every factor" (users reset-mfa) are one statement each.
--
-- totp:      secret_sealed (the base32 secret, sealed like client secrets); confirmed_at is null
--            until the person has typed a current code (an unconfirmed one never counts);
--            last_used_step is the RFC 6238 time step of the last accepted code: a code is
--            accepted by one UPDATE that raises it, so each code works once (§5.2), on every node.
-- webauthn:  credential_id, public_key (COSE), sign_count, transports, device_type
--            (singleDevice|multiDevice) and backed_up, as @simplewebauthn/server reports them.
-- recovery:  code_digest (keyed digest, secret-box.ts), used_at set by the one UPDATE that uses it.
create table account_factors (
  id              text        primary key,
  account_id      text        not null references accounts (id) on delete cascade,
  kind            text        not null check (kind in ('totp', 'webauthn', 'recovery')),
  -- What the person called it (passkeys), shown on the account page.
  name            text,
  secret_sealed   text,
  last_used_step  bigint,
  confirmed_at    timestamptz,
  credential_id   bytea       unique,
  public_key      bytea,
  sign_count      bigint,
  transports      text[],
  device_type     text,
  backed_up       boolean,
  code_digest     text,
  used_at         timestamptz,
  last_used_at    timestamptz,
  created_at      timestamptz not null default now(),
  check (kind <> 'totp' or secret_sealed is not null),
  check (kind <> 'webauthn' or (credential_id is not null and public_key is not null and sign_count is not null)),
  check (kind <> 'recovery' or code_digest is not null)
);
create index account_factors_account on account_factors (account_id, kind);
-- A recovery code is looked up by its digest within the account.
create unique index account_factors_recovery on account_factors (account_id, code_digest) where kind = 'recovery';
-- One authenticator app per account (set up again = replace).
create unique index account_factors_one_totp on account_factors (account_id) where kind = 'totp' and confirmed_at is not null;

-- Per client: sign-in for this app needs a second factor (clients create/update --require-mfa);
-- a person without one enrols during the sign-in before the app gets a code.
alter table clients add column require_mfa boolean not null default false;
