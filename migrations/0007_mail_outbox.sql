-- Every mail Latchkey sends is first a row here, written in the same transaction as what it
-- carries (a reset or verification token), so a crash between "token created" and "mail sent"
-- loses nothing. A sender on any node claims due rows (FOR UPDATE SKIP LOCKED: one node per row),
-- delivers them over SMTP and records the outcome.
--
-- data: the template's fields (src/mail/templates.ts, MailTemplates), as JSON sealed with the
-- secret box (AES-256-GCM under LATCHKEY_SECRET_KEY, like client secrets): it may carry a
-- one-time link, a bearer secret, so a dump or a replica must not hold it readable. It is opened
-- only to render the mail (the sender, `latchkey mail show`).
create table mail_outbox (
  id               bigint      generated always as identity primary key,
  recipient        text        not null,
  template         text        not null,
  locale           text        not null,
  data             jsonb       not null,
  state            text        not null default 'pending' check (state in ('pending', 'sent', 'failed')),
  -- Claims so far: each claim counts one, and a sender records its outcome only for its own claim.
  attempts         integer     not null default 0,
  -- A pending row is due from then on; a claim moves it past the claim's lease, so a node that
  -- dies mid-delivery leaves the row to be claimed again once the lease is over.
  next_attempt_at  timestamptz not null default now(),
  last_error       text,
  created_at       timestamptz not null default now(),
  sent_at          timestamptz
);

-- The sender's pick: due pending rows, oldest first.
create index mail_outbox_due on mail_outbox (next_attempt_at) where state = 'pending';
-- The janitor's: finished rows by age.
create index mail_outbox_finished on mail_outbox (created_at) where state <> 'pending';
