-- Every oidc-provider model (Session, Interaction, Grant, AuthorizationCode, AccessToken,
-- RefreshToken, DeviceCode, ...) in one table. id, grant_id, uid and user_code hold SHA-256
-- digests, never the raw values: those are bearer credentials.
create table oidc_payloads (
  model        text        not null,
  id           text        not null,
  payload      jsonb       not null,
  grant_id     text,
  uid          text,
  user_code    text,
  expires_at   timestamptz,
  consumed_at  timestamptz,
  primary key (model, id)
);
create index oidc_payloads_grant_id on oidc_payloads (grant_id) where grant_id is not null;
create index oidc_payloads_uid on oidc_payloads (uid) where uid is not null;
create index oidc_payloads_user_code on oidc_payloads (user_code) where user_code is not null;
create index oidc_payloads_expires_at on oidc_payloads (expires_at) where expires_at is not null;

create table accounts (
  id              text        primary key,
  email           text        not null,
  email_verified  boolean     not null default false,
  name            text        not null,
  given_name      text,
  family_name     text,
  password_hash   text        not null,
  disabled        boolean     not null default false,
  failed_logins   integer     not null default 0,
  lockouts        integer     not null default 0,
  locked_until    timestamptz,
  last_login_at   timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);
create unique index accounts_email_lower on accounts (lower(email));

create table clients (
  client_id                   text        primary key,
  name                        text        not null,
  type                        text        not null check (type in ('confidential', 'public')),
  application_type            text        not null default 'web' check (application_type in ('web', 'native')),
  -- AES-256-GCM under LATCHKEY_SECRET_KEY: the engine compares the plaintext, so it is sealed, not hashed.
  secret_sealed               text,
  token_endpoint_auth_method  text        not null,
  redirect_uris               text[]      not null default '{}',
  post_logout_redirect_uris   text[]      not null default '{}',
  grant_types                 text[]      not null,
  scope                       text        not null,
  first_party                 boolean     not null default false,
  metadata                    jsonb       not null default '{}',
  created_at                  timestamptz not null default now(),
  updated_at                  timestamptz not null default now()
);

create table api_resources (
  id                 text        primary key,
  identifier         text        not null unique,
  name               text        not null,
  scopes             text[]      not null default '{}',
  access_token_ttl   integer,
  signing_alg        text        not null default 'ES256',
  created_at         timestamptz not null default now()
);

create table signing_keys (
  kid                  text        primary key,
  alg                  text        not null,
  state                text        not null check (state in ('next', 'active', 'retired')),
  public_jwk           jsonb       not null,
  private_jwk_sealed   text        not null,
  created_at           timestamptz not null default now(),
  activated_at         timestamptz,
  retired_at           timestamptz,
  -- a retired key stays published until every token it signed has expired
  unpublish_after      timestamptz
);
create index signing_keys_state on signing_keys (state);

create table cookie_keys (
  id           bigint      generated always as identity primary key,
  key_sealed   text        not null,
  created_at   timestamptz not null default now(),
  retired_at   timestamptz
);

create table audit_events (
  id          bigint      generated always as identity primary key,
  at          timestamptz not null default now(),
  event       text        not null,
  account_id  text,
  client_id   text,
  ip          text,
  details     jsonb       not null default '{}'
);
create index audit_events_at on audit_events (at);

-- Remembered consent and "sign this person out of every app" look grants up by account.
create index oidc_payloads_grant_account on oidc_payloads ((payload->>'accountId'), (payload->>'clientId')) where model = 'Grant';
