-- Whether a confidential client must send PKCE (public clients always must). Clients registered
-- before this migration keep what they had: not required. New ones require it (OAuth 2.1,
-- RFC 9700 §2.1.1) unless an operator registers them with --allow-no-pkce.
alter table clients add column require_pkce boolean not null default false;
update clients set require_pkce = true where type = 'public';
alter table clients alter column require_pkce set default true;
