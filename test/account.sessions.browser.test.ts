import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAccountPageStore } from '../src/account/store.ts';
import { UserAgent } from './helpers/browser.ts';
import { authorize, startLatchkey, statementsDuring } from './helpers/latchkey.ts';

/**
 * The account page lists each signed-in session with the browser and address it was last used
 * from. That record rides in the session's own row, written by the statement that saves the
 * session (oidc/adapter.ts): a sign-in spends no statement on it, and it ends with the session.
 */

/** A user agent that names itself, as a browser does in every request. */
class NamedBrowser extends UserAgent {
  name: string;
  constructor(origin: string, name: string) {
    super(origin);
    this.name = name;
  }
  override request(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('user-agent', this.name);
    return super.request(input, { ...init, headers });
  }
}

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
const SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1';

test('a sign-in records its browser and address with its session, in the statement that saves the session', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client);
  const agent = new NamedBrowser(idp.issuer, FIREFOX);
  const before = Math.floor(Date.now() / 1000);
  const statements = await statementsDuring(idp, () => authorize(idp, rp, { email: user.email, agent }));
  assert.equal(statements.at(-1), 'oidc_payloads.upsert_many', 'the resume ends with its one held write');
  assert.deepEqual(
    statements.filter((name) => !/^(oidc_payloads|accounts|account_factors|clients)\./.test(name)),
    ['remembered_consents.remember_implied'],
    'nothing else is written for the browser',
  );

  const [session, ...others] = await createAccountPageStore(idp.server.database.pool).sessionsOf(user.id);
  assert.equal(others.length, 0);
  assert.equal(session?.user_agent, FIREFOX);
  assert.equal(session?.ip, '127.0.0.1');
  assert.ok(session?.last_seen_at && session.last_seen_at.getTime() / 1000 >= before, 'seen now');
});

test('the same session used for another app from the same device updates where and when it was last seen', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const notes = await idp.rp(await idp.clients.create({ type: 'confidential', firstParty: true }));
  const calendar = await idp.rp(await idp.clients.create({ type: 'confidential', firstParty: true }));
  const agent = new NamedBrowser(idp.issuer, FIREFOX);
  await authorize(idp, notes, { email: user.email, agent });
  const store = createAccountPageStore(idp.server.database.pool);
  const [first] = await store.sessionsOf(user.id);

  // The browser updated itself meanwhile; the session (its cookie) is the same, so no password is asked.
  agent.name = SAFARI;
  const second = await authorize(idp, calendar, { agent, email: user.email });
  assert.ok(new URL(second.callback).searchParams.get('code'), 'signed in to the second app by the session');
  const [again, ...others] = await store.sessionsOf(user.id);
  assert.equal(others.length, 0, 'one session');
  assert.equal(again?.session_uid, first?.session_uid);
  assert.equal(again?.user_agent, SAFARI);
  assert.ok(again!.last_seen_at!.getTime() >= first!.last_seen_at!.getTime());
  assert.deepEqual(again?.signed_in_at, first?.signed_in_at, 'signed in once');

  assert.equal((await store.endSession(user.id, first!.session_uid)).length, 1);
  assert.deepEqual(await store.sessionsOf(user.id), [], 'its record ended with it');
});
