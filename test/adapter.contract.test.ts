import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import * as oidc from 'openid-client';
import { migrate } from '../src/db/migrate.ts';
import { createPool, type Pool } from '../src/db/pool.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createAdapterFactory } from '../src/oidc/adapter.ts';
import { createPayloadStore } from '../src/oidc/payload-store.ts';
import { createSecretBox, sha256 } from '../src/secret-box.ts';
import { UserAgent } from './helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { authorize, CALLBACK, exchange, startLatchkey } from './helpers/latchkey.ts';

/**
 * oidc-provider's storage contract (its example/my_adapter.js, memory_adapter.js) on the real
 * oidc_payloads table, per model, plus our own promise: no bearer value at rest.
 */
const MODELS = [
  'Session',
  'Interaction',
  'Grant',
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'ClientCredentials',
  'DeviceCode',
  'PushedAuthorizationRequest',
  'ReplayDetection',
  'BackchannelAuthenticationRequest',
] as const;
type Model = (typeof MODELS)[number];

/** Models whose payload carries a grantId, and which the engine revokes by grant. */
const GRANT_BOUND: Model[] = [
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
];
/** What the engine consumes: codes, rotated refresh tokens, device and CIBA requests, pushed requests. */
const CONSUMABLE_GRANT_BOUND: Model[] = [
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
];

const ISSUER = 'http://127.0.0.1:3000';
const CLIENT_ID = 'contract-client';
const ACCOUNT_ID = '6a1f8c52-7a6b-4d8e-9f00-0c0ffee00001';

/** An id like the engine's (nanoid, 43 characters), so it can be searched for in a dump. */
const newId = () => randomBytes(32).toString('base64url').slice(0, 43);

interface Fixture {
  id: string;
  payload: AdapterPayload;
  /** Raw values that are bearer credentials and must appear nowhere in the table. */
  secrets: string[];
}

/** A payload shaped as the engine writes it for `model` (see the dump of a real sign-in below). */
function fixture(model: Model, refs: { grantId?: string } = {}): Fixture {
  const id = newId();
  const now = Math.floor(Date.now() / 1000);
  const base = { iat: now, exp: now + 600, jti: id, kind: model };
  const grantId = refs.grantId ?? newId();
  const token = {
    ...base,
    clientId: CLIENT_ID,
    accountId: ACCOUNT_ID,
    grantId,
    scope: 'openid offline_access',
    sessionUid: newId(),
  };
  switch (model) {
    case 'Session':
      return {
        id,
        secrets: [id],
        payload: {
          ...base,
          uid: newId(),
          accountId: ACCOUNT_ID,
          loginTs: now,
          amr: ['pwd'],
          authorizations: { [CLIENT_ID]: { sid: newId(), grantId, persistsLogout: true } },
        },
      };
    case 'Interaction': {
      const sessionCookie = newId();
      const deviceCode = newId();
      const parJti = newId();
      return {
        id,
        secrets: [id, sessionCookie, deviceCode, parJti],
        payload: {
          ...base,
          returnTo: `${ISSUER}/authorize/${id}`,
          prompt: { name: 'consent', reasons: ['op_scopes_missing'], details: { missingOIDCScope: ['openid'] } },
          params: { client_id: CLIENT_ID, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 'st' },
          session: { accountId: ACCOUNT_ID, uid: newId(), cookie: sessionCookie, amr: ['pwd'] },
          grantId,
          cid: newId(),
          deviceCode,
          parJti,
          trusted: [],
        },
      };
    }
    case 'Grant':
      return {
        id,
        secrets: [],
        payload: { ...base, accountId: ACCOUNT_ID, clientId: CLIENT_ID, openid: { scope: 'openid offline_access' } },
      };
    case 'AuthorizationCode':
      return {
        id,
        secrets: [id],
        payload: {
          ...token,
          redirectUri: CALLBACK,
          nonce: 'n',
          authTime: now,
          amr: ['pwd'],
          codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          codeChallengeMethod: 'S256',
        },
      };
    case 'AccessToken':
      return { id, secrets: [id], payload: { ...token, gty: 'authorization_code' } };
    case 'RefreshToken':
      return {
        id,
        secrets: [id],
        payload: { ...token, gty: 'authorization_code', iiat: now, rotations: 0, authTime: now },
      };
    case 'ClientCredentials':
      return {
        id,
        secrets: [id],
        payload: { ...base, clientId: CLIENT_ID, scope: 'read', aud: 'https://api.example.com' },
      };
    case 'DeviceCode': {
      const userCode = `${randomBytes(4).toString('hex').toUpperCase()}`;
      return {
        id,
        secrets: [id, userCode],
        payload: {
          ...token,
          userCode,
          params: { client_id: CLIENT_ID, scope: 'openid' },
          deviceInfo: { ip: '127.0.0.1', ua: 'test' },
        },
      };
    }
    case 'PushedAuthorizationRequest':
      return {
        id,
        secrets: [id],
        payload: { ...base, clientId: CLIENT_ID, request: 'eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.' },
      };
    case 'ReplayDetection':
      return { id, secrets: [id], payload: { ...base, iss: CLIENT_ID } };
    case 'BackchannelAuthenticationRequest':
      return {
        id,
        secrets: [id],
        payload: { ...token, params: { client_id: CLIENT_ID, scope: 'openid', login_hint: 'x' } },
      };
  }
}

/** What find must give back: the payload as saved, minus what the adapter drops on purpose. */
function expected(model: Model, payload: AdapterPayload): AdapterPayload {
  if (model === 'DeviceCode') {
    // Only its digest is stored; findByUserCode, handed the code, gives it back.
    const { userCode: _userCode, ...rest } = payload;
    return rest as AdapterPayload;
  }
  if (model !== 'Interaction') return payload;
  const { cookie: _cookie, ...session } = payload.session as Record<string, unknown>;
  return { ...payload, session };
}

describe('oidc_payloads adapter contract', () => {
  let database: TestDatabase;
  let pool: Pool;
  let adapter: (model: string) => Adapter;
  const log = createLogger({ level: 'silent' });
  const box = createSecretBox(randomBytes(32).toString('base64url'));

  before(async () => {
    database = await createTestDatabase();
    pool = createPool({ connectionString: database.url, max: 12, connectTimeoutMs: 5000, log });
    await migrate(pool, log);
    const noClients = { findMetadata: async () => undefined };
    adapter = createAdapterFactory({ payloads: createPayloadStore(pool), clients: noClients, box });
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  const save = async (model: Model, item: Fixture, ttl = 600) =>
    adapter(model).upsert(item.id, structuredClone(item.payload), ttl);

  test('every model round-trips through upsert and find, with its jti restored', async () => {
    for (const model of MODELS) {
      const item = fixture(model);
      await save(model, item);
      const found = await adapter(model).find(item.id);
      assert.deepEqual(found, expected(model, item.payload), model);
      assert.equal(found?.jti, item.id, model);
      assert.equal(await adapter(model).find(newId()), undefined, `${model}: unknown id`);
    }
  });

  test('no raw id of a code, token, session or interaction is stored, in any column', async () => {
    const items = MODELS.map((model) => ({ model, item: fixture(model) }));
    for (const { model, item } of items) await save(model, item);
    // The engine saves again after findByUid/findByUserCode; those rows carry a sealed jti.
    for (const { model, item } of items) await save(model, item);

    const { rows } = await pool.query<{ model: string; id: string; row: string }>(
      'select model, id, row_to_json(p)::text as row from oidc_payloads p',
    );
    const dump = rows.map((r) => r.row).join('\n');
    for (const { model, item } of items) {
      const stored = rows.find((r) => r.model === model && r.id === sha256(item.id));
      assert.ok(stored, `${model} is keyed by the SHA-256 of its id`);
      for (const secret of item.secrets)
        assert.ok(!dump.includes(secret), `${model}: a raw bearer value is in oidc_payloads`);
    }
    const interaction = items.find((i) => i.model === 'Interaction')!;
    const row = await pool.query<{ payload: { session: Record<string, unknown> } }>(
      `select payload from oidc_payloads where model = 'Interaction' and id = $1`,
      [sha256(interaction.item.id)],
    );
    assert.equal(
      row.rows[0]?.payload.session.cookie,
      undefined,
      "an Interaction's copy of the session cookie is dropped",
    );
    // By design a Grant's id stays readable in its payload: it is no credential, and remembered
    // consent looks grants up by account (see adapter.ts). Its row is still keyed by the digest.
    const grant = items.find((i) => i.model === 'Grant')!;
    assert.ok(!rows.some((r) => r.id === grant.item.id), 'no row is keyed by a raw grant id');
  });

  test('an expired row is not found, by id or by a secondary key; an expired device code is found expired', async () => {
    const items = MODELS.map((model) => ({ model, item: fixture(model) }));
    await Promise.all(items.map(({ model, item }) => save(model, item, 1)));
    await sleep(1200);
    for (const { model, item } of items) {
      const found = await adapter(model).find(item.id);
      // RFC 8628 §3.5: the engine answers expired_token (not invalid_grant) for a device code it
      // finds expired, so that one is found while kept, expired by the database's clock.
      if (model === 'DeviceCode') assert.ok(found && (found.exp as number) <= Date.now() / 1000, model);
      else assert.equal(found, undefined, model);
    }
    const session = items.find((i) => i.model === 'Session')!.item;
    assert.equal(await adapter('Session').findByUid(session.payload.uid as string), undefined);
    const device = items.find((i) => i.model === 'DeviceCode')!.item;
    assert.equal(await adapter('DeviceCode').findByUserCode(device.payload.userCode as string), undefined);
  });

  test('consume marks a row consumed once; consuming it again is refused', async () => {
    for (const model of MODELS) {
      const item = fixture(model);
      await save(model, item);
      const before = Math.floor(Date.now() / 1000);
      await adapter(model).consume(item.id);
      const found = await adapter(model).find(item.id);
      assert.equal(typeof found?.consumed, 'number', `${model}: consumed set`);
      assert.ok(
        Math.abs((found!.consumed as number) - before) <= 5,
        `${model}: consumed is the epoch time of consumption`,
      );
      // A code or token used twice is invalid_grant (RFC 6749 §5.2), a request_uri invalid_request (RFC 9126 §4).
      const refusal = CONSUMABLE_GRANT_BOUND.includes(model)
        ? errors.InvalidGrant
        : model === 'PushedAuthorizationRequest'
          ? errors.InvalidRequest
          : errors.OIDCProviderError;
      await assert.rejects(adapter(model).consume(item.id), refusal, `${model}: second consume`);
    }
  });

  test('of N concurrent consumes of one code exactly one wins; the others fail with invalid_grant and the grant is revoked', async () => {
    for (const model of CONSUMABLE_GRANT_BOUND) {
      const code = fixture(model);
      const sibling = fixture('AccessToken', { grantId: code.payload.grantId as string });
      await save(model, code);
      await save('AccessToken', sibling);

      const results = await Promise.allSettled(Array.from({ length: 8 }, () => adapter(model).consume(code.id)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `${model}: one winner`);
      for (const result of results) {
        if (result.status === 'rejected')
          assert.ok(result.reason instanceof errors.InvalidGrant, `${model}: ${String(result.reason)}`);
      }
      // A lost race is a replay: like the engine, revoke what the grant issued.
      assert.equal(await adapter('AccessToken').find(sibling.id), undefined, `${model}: grant revoked`);
    }
  });

  test('findByUid finds a Session and findByUserCode a DeviceCode, with the raw jti', async () => {
    const session = fixture('Session');
    await save('Session', session);
    assert.deepEqual(await adapter('Session').findByUid(session.payload.uid as string), session.payload);
    assert.equal(await adapter('Session').findByUid(newId()), undefined);

    const device = fixture('DeviceCode');
    await save('DeviceCode', device);
    assert.deepEqual(await adapter('DeviceCode').findByUserCode(device.payload.userCode as string), device.payload);
    assert.equal(await adapter('DeviceCode').findByUserCode('NOTACODE'), undefined);

    // The engine saves what it found under its jti; the row stays reachable both ways.
    const again = await adapter('Session').findByUid(session.payload.uid as string);
    await adapter('Session').upsert(again!.jti as string, { ...again!, loginTs: 1 }, 600);
    assert.equal((await adapter('Session').find(session.id))?.loginTs, 1);
    assert.equal((await adapter('Session').findByUid(session.payload.uid as string))?.jti, session.id);
  });

  test("revokeByGrantId removes that model's rows of the grant and nothing else", async () => {
    for (const model of GRANT_BOUND) {
      const grantA = newId();
      const grantB = newId();
      const mine = [fixture(model, { grantId: grantA }), fixture(model, { grantId: grantA })];
      const otherGrant = fixture(model, { grantId: grantB });
      const otherModel: Model = model === 'AccessToken' ? 'RefreshToken' : 'AccessToken';
      const sameGrantOtherModel = fixture(otherModel, { grantId: grantA });
      for (const item of [...mine, otherGrant]) await save(model, item);
      await save(otherModel, sameGrantOtherModel);

      await adapter(model).revokeByGrantId(grantA);

      for (const item of mine)
        assert.equal(await adapter(model).find(item.id), undefined, `${model} of the grant removed`);
      assert.equal((await adapter(model).find(otherGrant.id))?.jti, otherGrant.id, `${model} of another grant kept`);
      assert.equal(
        (await adapter(otherModel).find(sameGrantOtherModel.id))?.jti,
        sameGrantOtherModel.id,
        `${otherModel} of the grant kept`,
      );
    }
  });

  test('destroy removes one row', async () => {
    for (const model of MODELS) {
      const gone = fixture(model);
      const kept = fixture(model);
      await save(model, gone);
      await save(model, kept);
      await adapter(model).destroy(gone.id);
      assert.equal(await adapter(model).find(gone.id), undefined, model);
      assert.equal((await adapter(model).find(kept.id))?.jti, kept.id, model);
    }
  });

  test('a database failure is an error, not "not found"', async () => {
    const closed = createPool({ connectionString: database.url, max: 1, connectTimeoutMs: 1000, log });
    await closed.end();
    const broken = createAdapterFactory({
      payloads: createPayloadStore(closed),
      clients: { findMetadata: async () => undefined },
      box,
    });
    await assert.rejects(broken('AccessToken').find(newId()));
  });
});

test('a real sign-in leaves no code, token, session or interaction id in oidc_payloads', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({
    type: 'confidential',
    grantTypes: ['authorization_code', 'refresh_token'],
  });
  const rp = await idp.rp(client);
  const dump = async () =>
    (
      await idp.server.database.pool.query<{ row: string }>('select row_to_json(p)::text as row from oidc_payloads p')
    ).rows
      .map((r) => r.row)
      .join('\n');

  // Mid-flow: the login page is showing and its Interaction is stored.
  const pending = new UserAgent(idp.issuer);
  const page = await pending.navigate(
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }),
  );
  const uid = /\/interaction\/([\w-]+)/.exec(page.url.pathname)?.[1];
  assert.ok(uid, `on the login page (${page.url.pathname})`);
  const midFlow = await dump();
  assert.match(midFlow, /"Interaction"/);
  assert.ok(!midFlow.includes(uid), 'interaction id not stored');

  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid offline_access', prompt: 'consent' });
  const code = flow.callback.searchParams.get('code')!;
  const tokens = await exchange(rp, flow);
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  const sessionCookie = flow.agent.cookies().find((c) => c.name === '_session')?.value;
  assert.ok(sessionCookie, 'signed in');

  const after = await dump();
  assert.match(after, /"RefreshToken"/);
  const bearer = {
    code,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token!,
    refreshed_access_token: refreshed.access_token,
    refreshed_refresh_token: refreshed.refresh_token!,
    session: sessionCookie,
  };
  for (const [name, value] of Object.entries(bearer)) assert.ok(!after.includes(value), `${name} not stored`);
});
