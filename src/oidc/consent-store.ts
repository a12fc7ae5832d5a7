import { RECORD_AUDIT_EVENT } from '../audit/store.ts';
import type { Queryable } from '../db/pool.ts';

/**
 * SQL over remembered_consents: what a person approved for an app, apart from the grants that
 * carry it. Each new grant starts from it (provider.ts loadExistingGrant, interactions/consent.ts).
 */

/** What a person approved for an app: OpenID scopes and claims, and scopes per API (resource indicator). */
export interface RememberedConsent {
  scopes: string[];
  claims: string[];
  resources: Record<string, string[]>;
}

const find = {
  name: 'remembered_consents.find',
  text: 'select scopes, claims, resources from remembered_consents where account_id = $1 and client_id = $2',
};
/** The union of what is remembered (r) and what is added (excluded), for an upsert's conflict. */
const MERGE_ON_CONFLICT = `on conflict (account_id, client_id) do update set
           scopes = array(select distinct scope from unnest(r.scopes || excluded.scopes) as scope order by scope),
           claims = array(select distinct claim from unnest(r.claims || excluded.claims) as claim order by claim),
           resources = (
             select coalesce(jsonb_object_agg(key, scopes), '{}'::jsonb) from (
               select key, jsonb_agg(distinct scope) as scopes from (
                 select key, jsonb_array_elements_text(value) as scope from jsonb_each(r.resources)
                 union all
                 select key, jsonb_array_elements_text(value) from jsonb_each(excluded.resources)
               ) as each_scope group by key
             ) as merged),
           updated_at = now()`;
/** Adds to what is remembered, in one statement: two consents at once both count. */
const remember = {
  name: 'remembered_consents.remember',
  text: `insert into remembered_consents as r (account_id, client_id, scopes, claims, resources)
         values ($1, $2, $3::text[], $4::text[], $5::jsonb)
         ${MERGE_ON_CONFLICT}`,
};
/**
 * An implied approval (a first-party app): what is remembered, with what this authorization asks
 * for ($3-$5) added when it lacks any of it, and the `consent.implied` audit row of that addition,
 * in one statement. Read first (`before`, this statement's snapshot): when it already holds all
 * that is asked, nothing is written and nothing locked. Otherwise the upsert merges (a consent
 * committed meanwhile by another request is merged with, not overwritten) and its row is the
 * answer. No row at all: another request remembered the same meanwhile; what is asked is held.
 */
const rememberImplied = {
  name: 'remembered_consents.remember_implied',
  text: `with before as (
           select scopes, claims, resources from remembered_consents where account_id = $1 and client_id = $2
         ), covered as (
           select 1 from before b where $3::text[] <@ b.scopes and $4::text[] <@ b.claims and not exists (
             select 1 from jsonb_each($5::jsonb) as asked(indicator, scopes), jsonb_array_elements_text(asked.scopes) as scope
             where not coalesce((b.resources -> asked.indicator) ? scope, false))
         ), added as (
           insert into remembered_consents as r (account_id, client_id, scopes, claims, resources)
           select $1, $2, $3::text[], $4::text[], $5::jsonb where not exists (select 1 from covered)
           ${MERGE_ON_CONFLICT}
           returning scopes, claims, resources
         ), recorded as (
           ${RECORD_AUDIT_EVENT} select 'consent.implied', $1, $2, null, '{}'::jsonb from added
         )
         select scopes, claims, resources, true as added from added
         union all
         select scopes, claims, resources, false from before where not exists (select 1 from added)`,
};

/**
 * Forgets what account $1 approved, as a part of the statement that signs the account out
 * everywhere (payload-store.ts revokeGrantsOfAccount): one statement, so the grants and the
 * consent they would be started from again go together.
 */
export const FORGET_CONSENTS_OF_ACCOUNT = 'delete from remembered_consents where account_id = $1';
/** The same for one app ($2) of account $1, with revokeGrantsOfClient. */
export const FORGET_CONSENT_OF_CLIENT = 'delete from remembered_consents where account_id = $1 and client_id = $2';

export function createConsentStore(db: Queryable) {
  return {
    /** What this account has approved for this client, if anything. */
    async find(accountId: string, clientId: string): Promise<RememberedConsent | undefined> {
      return (await db.query<RememberedConsent>({ ...find, values: [accountId, clientId] })).rows[0];
    },
    /**
     * A first-party app's implied approval: adds what the authorization `asks` for to what this
     * account approved for this client, recording `consent.implied` when that added anything, in
     * one statement; returns what is approved now.
     */
    async rememberImplied(
      accountId: string,
      clientId: string,
      asks: RememberedConsent,
    ): Promise<{ consent: RememberedConsent; added: boolean }> {
      const { rows } = await db.query<RememberedConsent & { added: boolean }>({
        ...rememberImplied,
        values: [accountId, clientId, asks.scopes, asks.claims, JSON.stringify(asks.resources)],
      });
      const [row] = rows;
      if (!row) return { consent: asks, added: false };
      const { added, ...consent } = row;
      return { consent, added };
    },
    /** Adds `consent` to what this account has approved for this client. */
    async remember(accountId: string, clientId: string, consent: RememberedConsent): Promise<void> {
      await db.query({
        ...remember,
        values: [accountId, clientId, consent.scopes, consent.claims, JSON.stringify(consent.resources)],
      });
    },
  };
}
export type ConsentStore = ReturnType<typeof createConsentStore>;

/** The parts of the engine's Grant that a remembered consent fills in, and is read back from. */
interface GrantLike {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  getOIDCScope(): string;
  getOIDCClaims(): string[];
  getResourceScope(indicator: string): string;
  resources?: Record<string, unknown> | undefined;
}

/** Everything a grant holds, as a consent to remember. */
export function consentOf(grant: GrantLike): RememberedConsent {
  const words = (scope: string | undefined) => (scope ?? '').split(' ').filter(Boolean);
  return {
    scopes: words(grant.getOIDCScope()),
    claims: grant.getOIDCClaims(),
    resources: Object.fromEntries(
      Object.keys(grant.resources ?? {}).map((indicator) => [indicator, words(grant.getResourceScope(indicator))]),
    ),
  };
}

/** Adds what was remembered to a new grant. */
export function applyConsent(grant: GrantLike, consent: RememberedConsent): void {
  if (consent.scopes.length > 0) grant.addOIDCScope(consent.scopes.join(' '));
  if (consent.claims.length > 0) grant.addOIDCClaims(consent.claims);
  for (const [indicator, scopes] of Object.entries(consent.resources))
    grant.addResourceScope(indicator, scopes.join(' '));
}
