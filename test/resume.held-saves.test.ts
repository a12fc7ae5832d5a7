import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserAgent } from './helpers/browser.ts';
import { authorize, exchange, startLatchkey } from './helpers/latchkey.ts';

/**
 * The resumed authorization holds its writes (the interaction's end, the grant, the code, the
 * session) and makes them in one statement before it answers (app.ts HOLDS_SAVES). The code must
 * reach the app only once it is stored: when that write fails, the browser gets an error page, and
 * neither the redirect with the code nor the session's cookie.
 */

/** A browser that keeps what the provider answered to each resume. */
class RecordingAgent extends UserAgent {
  readonly resumes: Response[] = [];
  override async request(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const response = await super.request(input, init);
    if (/^\/authorize\/[^/]+$/.test(new URL(input, this.origin).pathname)) this.resumes.push(response);
    return response;
  }
}

test('a code that could not be stored never reaches the app: the resume answers with an error page, without the redirect or the session cookie', async (t) => {
  const idp = await startLatchkey(t);
  const pool = idp.server.database.pool;
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client, 'basic');

  // PostgreSQL refuses every authorization code until the trigger goes.
  await pool.query(`create function refuse_codes() returns trigger language plpgsql as $$
    begin raise exception 'this test refuses authorization codes'; end $$`);
  await pool.query(`create trigger refuse_codes before insert on oidc_payloads for each row
    when (new.model = 'AuthorizationCode') execute function refuse_codes()`);

  const agent = new RecordingAgent(idp.issuer);
  await assert.rejects(authorize(idp, rp, { email: user.email, scope: 'openid profile', agent }), (err: Error) => {
    const step = (err as Error & { step: { status: number; body: string; location?: URL } }).step;
    assert.equal(step.status, 500);
    assert.equal(step.location, undefined, 'not sent back to the app');
    assert.match(step.body, /<html/i, 'an error page');
    return true;
  });
  const [resume] = agent.resumes;
  assert.ok(resume && agent.resumes.length === 1);
  assert.equal(resume.headers.get('location'), null);
  assert.deepEqual(resume.headers.getSetCookie(), [], 'no cookie for a sign-in that did not complete');
  const codes = await pool.query(`select count(*)::int as n from oidc_payloads where model = 'AuthorizationCode'`);
  assert.equal(codes.rows[0].n, 0);

  // Once codes can be stored again, signing in again works, in the same browser.
  await pool.query('drop trigger refuse_codes on oidc_payloads');
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid profile', agent });
  assert.equal(flow.sawLogin, true, 'the failed sign-in left no session behind');
  const tokens = await exchange(rp, flow);
  assert.equal(tokens.claims()?.sub, user.id);
});

test("the resume's interaction is ended with its writes: resuming it again is refused", async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create();
  const client = await idp.clients.create({ type: 'confidential', firstParty: true });
  const rp = await idp.rp(client, 'basic');

  const agent = new RecordingAgent(idp.issuer);
  const flow = await authorize(idp, rp, { email: user.email, scope: 'openid profile', agent });
  const [resume] = agent.resumes;
  assert.ok(resume);
  await exchange(rp, flow);

  const again = await agent.navigate(resume.url);
  assert.equal(again.location, undefined, 'no second code from one interaction');
  assert.equal(again.response.status, 400);
  const left = await idp.server.database.pool.query(
    `select count(*)::int as n from oidc_payloads where model = 'Interaction' and (expires_at is null or expires_at > now())`,
  );
  assert.equal(left.rows[0].n, 0, 'no live interaction left');
});
