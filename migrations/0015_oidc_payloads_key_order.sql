-- The primary key leads with the id: every lookup names the id (a code's or token's digest), and
-- only some name the model as a parameter. Led by the model, a prepared statement planned while the
-- table was small found rows by the model alone, every row of that model compared with the ids,
-- and kept that plan as the table grew (PostgreSQL plans a prepared statement again only after the
-- table is analysed, which autovacuum may not do for a long time, or at all where it is off).
-- Led by the id, no plan can look up these rows by the model alone. ON CONFLICT (model, id) still
-- finds this index: its columns are a set.
alter table oidc_payloads drop constraint oidc_payloads_pkey,
  add constraint oidc_payloads_pkey primary key (id, model);
