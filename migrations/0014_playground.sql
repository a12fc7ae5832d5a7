-- The playground (/playground, development by default): the clients it created for itself, one per
-- application type, and each browser's run of the code flow between steps.
--
-- playground_clients: the web client's secret sealed (AES-256-GCM under LATCHKEY_SECRET_KEY) as
-- every client secret is, so every node can send it to /token. Removing the client (`clients delete`)
-- removes the row; the playground then creates a new client on next use.
create table playground_clients (
  app_type       text        primary key check (app_type in ('web', 'spa', 'native')),
  client_id      text        not null references clients (client_id) on delete cascade,
  secret_sealed  text,
  created_at     timestamptz not null default now()
);

-- playground_runs: keyed by the SHA-256 of the random id in the browser's cookie (the id is a
-- bearer value); the state (PKCE verifier, state, nonce, tokens) sealed. Swept once expired.
create table playground_runs (
  id          text        primary key,
  state       text        not null,
  expires_at  timestamptz not null,
  updated_at  timestamptz not null default now()
);
create index playground_runs_expires_at on playground_runs (expires_at);
