import type { Queryable } from '../db/pool.ts';

/** SQL over signing_keys and cookie_keys. Private material arrives and leaves sealed. */
export interface SigningKeyRow {
  kid: string;
  alg: string;
  state: 'next' | 'active' | 'retired';
  public_jwk: Record<string, unknown>;
  private_jwk_sealed: string;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
  unpublish_after: Date | null;
}

const listPublished = {
  name: 'signing_keys.list_published',
  text: `select * from signing_keys where state <> 'retired' or unpublish_after is null or unpublish_after > now()
         order by case state when 'active' then 0 when 'next' then 1 else 2 end, activated_at desc nulls last, created_at desc`,
};
const listAll = { name: 'signing_keys.list_all', text: 'select * from signing_keys order by created_at desc' };
const insertKey = {
  name: 'signing_keys.insert',
  text: `insert into signing_keys (kid, alg, state, public_jwk, private_jwk_sealed, activated_at)
         values ($1, $2, $3, $4::jsonb, $5, case when $3 = 'active' then now() end)`,
};
const activate = {
  name: 'signing_keys.activate',
  text: `update signing_keys set state = 'active', activated_at = now() where kid = $1 and state = 'next'`,
};
const retireActive = {
  name: 'signing_keys.retire_active',
  text: `update signing_keys set state = 'retired', retired_at = now(), unpublish_after = now() + make_interval(secs => $2::int)
         where alg = $1 and state = 'active'`,
};
const retireKey = {
  name: 'signing_keys.retire',
  text: `update signing_keys set state = 'retired', retired_at = now(), unpublish_after = now() + make_interval(secs => $2::int)
         where kid = $1 and state <> 'retired' returning kid`,
};
/** Servers listen on this channel and reload their keys at once (they also poll, in case one is missed). */
export const KEYS_CHANNEL = 'latchkey_keys';
const notifyChanged = { name: 'signing_keys.notify_changed', text: `select pg_notify('${KEYS_CHANNEL}', 'changed')` };
const listCookieKeys = {
  name: 'cookie_keys.list_live',
  text: 'select id, key_sealed from cookie_keys where retired_at is null or retired_at > now() order by id desc',
};
const insertCookieKey = { name: 'cookie_keys.insert', text: 'insert into cookie_keys (key_sealed) values ($1)' };
const retireCookieKeys = {
  name: 'cookie_keys.retire_older',
  text: `update cookie_keys set retired_at = now() + make_interval(secs => $2::int) where id < $1 and retired_at is null`,
};

export function createKeyStore(db: Queryable) {
  return {
    async listPublished(): Promise<SigningKeyRow[]> {
      return (await db.query<SigningKeyRow>(listPublished)).rows;
    },
    async listAll(): Promise<SigningKeyRow[]> {
      return (await db.query<SigningKeyRow>(listAll)).rows;
    },
    async insert(key: {
      kid: string;
      alg: string;
      state: 'next' | 'active';
      publicJwk: object;
      privateJwkSealed: string;
    }): Promise<void> {
      await db.query({
        ...insertKey,
        values: [key.kid, key.alg, key.state, JSON.stringify(key.publicJwk), key.privateJwkSealed],
      });
    },
    async activate(kid: string): Promise<void> {
      await db.query({ ...activate, values: [kid] });
    },
    /** Retires the active key(s) of an algorithm; they stay published for `publishSeconds`. */
    async retireActive(alg: string, publishSeconds: number): Promise<void> {
      await db.query({ ...retireActive, values: [alg, publishSeconds] });
    },
    async retire(kid: string, publishSeconds: number): Promise<boolean> {
      return ((await db.query({ ...retireKey, values: [kid, publishSeconds] })).rowCount ?? 0) > 0;
    },
    /** Tells every server to reload; inside a transaction it is sent on commit. */
    async notifyChanged(): Promise<void> {
      await db.query(notifyChanged);
    },
    async listCookieKeys(): Promise<Array<{ id: number; key_sealed: string }>> {
      return (await db.query<{ id: number; key_sealed: string }>(listCookieKeys)).rows;
    },
    async insertCookieKey(sealed: string): Promise<void> {
      await db.query({ ...insertCookieKey, values: [sealed] });
    },
    /** Older cookie keys keep verifying for `graceSeconds`, then stop. */
    async retireCookieKeysBefore(id: number, graceSeconds: number): Promise<void> {
      await db.query({ ...retireCookieKeys, values: [id, graceSeconds] });
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
