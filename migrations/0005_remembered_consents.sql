-- What a person has approved for an app, apart from the grants that carry it. Each authorization
-- gets a grant of its own, started from this, so that revoking one grant (a refresh token
-- replayed) ends that authorization's tokens and not the person's other devices and browsers.
-- Scopes and claims are OpenID Connect's; resources maps an API identifier to its approved scopes.
create table remembered_consents (
  account_id  text        not null,
  client_id   text        not null,
  scopes      text[]      not null default '{}',
  claims      text[]      not null default '{}',
  resources   jsonb       not null default '{}',
  updated_at  timestamptz not null default now(),
  primary key (account_id, client_id)
);

-- Consent given before this migration lives in the grants: remember the union per person and app.
with grants as (
  select payload->>'accountId' as account_id, payload->>'clientId' as client_id, payload
  from oidc_payloads
  where model = 'Grant' and (expires_at is null or expires_at > now())
    and payload ? 'accountId' and payload ? 'clientId'
), scopes as (
  select account_id, client_id, array_agg(distinct scope order by scope) as scopes
  from grants, regexp_split_to_table(coalesce(payload->'openid'->>'scope', ''), ' ') as scope
  where scope <> '' group by account_id, client_id
), claims as (
  select account_id, client_id, array_agg(distinct claim order by claim) as claims
  from grants, jsonb_array_elements_text(coalesce(payload->'openid'->'claims', '[]'::jsonb)) as claim
  group by account_id, client_id
), resource_scopes as (
  select account_id, client_id, resource.key as indicator, jsonb_agg(distinct scope) as scopes
  from grants, jsonb_each_text(coalesce(payload->'resources', '{}'::jsonb)) as resource,
    regexp_split_to_table(resource.value, ' ') as scope
  where scope <> '' group by account_id, client_id, resource.key
), resources as (
  select account_id, client_id, jsonb_object_agg(indicator, scopes) as resources
  from resource_scopes group by account_id, client_id
)
insert into remembered_consents (account_id, client_id, scopes, claims, resources)
select pair.account_id, pair.client_id, coalesce(s.scopes, '{}'), coalesce(c.claims, '{}'), coalesce(r.resources, '{}')
from (select distinct account_id, client_id from grants) as pair
left join scopes s using (account_id, client_id)
left join claims c using (account_id, client_id)
left join resources r using (account_id, client_id);
