import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formField, UserAgent } from './helpers/browser.ts';
import { type Latchkey, PASSWORD, signInFrom, startLatchkey } from './helpers/latchkey.ts';

/** A browser signed in to the account page, with the page's CSRF token. */
async function signedIn(idp: Latchkey, email: string) {
  const agent = new UserAgent(idp.issuer);
  const step = await signInFrom(idp, agent, agent.navigate('/account'), { email });
  assert.equal(step.status, 200);
  assert.equal(new URL(step.url).pathname, '/account');
  const csrf = formField(step.body, 'csrf');
  assert.ok(csrf, 'the account page has a CSRF token');
  return { agent, csrf };
}

const FORMS: Record<string, Record<string, string>> = {
  '/account/profile': { name: 'Mallory' },
  '/account/email': { new_email: 'mallory@example.com', password: PASSWORD },
  '/account/password': { current_password: PASSWORD, new_password: 'a hostile new passphrase' },
  '/account/apps/remove': { client_id: 'x' },
  '/account/sessions/end': { session: 'x' },
  '/account/sessions/end-others': {},
  '/account/delete': { password: PASSWORD, confirm: 'yes' },
  '/account/mfa/totp': { password: PASSWORD },
  '/account/mfa/totp/confirm': { factor_id: 'x', code: '123456' },
  '/account/mfa/totp/remove': { password: PASSWORD },
  '/account/mfa/recovery-codes': { password: PASSWORD },
};

test('account forms: CSRF missing or wrong is 403, malformed input is 4xx, never 5xx, and nothing changes', async (t) => {
  const idp = await startLatchkey(t);
  const user = await idp.users.create({ name: 'Alex' });
  const other = await idp.users.create();
  const { agent, csrf } = await signedIn(idp, user.email);
  const { csrf: otherCsrf } = await signedIn(idp, other.email);
  const statuses: string[] = [];
  const post = async (
    label: string,
    path: string,
    body: string,
    contentType = 'application/x-www-form-urlencoded',
    who: UserAgent = agent,
  ) => {
    const response = await who.request(path, {
      method: 'POST',
      headers: { 'content-type': contentType, accept: 'text/html' },
      body,
    });
    const text = await response.text();
    if (response.status >= 500) statuses.push(`${label}: ${response.status}`);
    assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, `${label}: no stack trace`);
    return response.status;
  };
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

  for (const [path, fields] of Object.entries(FORMS)) {
    assert.equal(await post(`${path} without CSRF`, path, form(fields)), 403, `${path} without CSRF`);
    for (const token of ['', 'x', `${csrf}x`, otherCsrf!, 'A'.repeat(5000)]) {
      assert.equal(
        await post(`${path} wrong CSRF`, path, form({ ...fields, csrf: token })),
        403,
        `${path} with CSRF ${token.slice(0, 10)}`,
      );
    }
    assert.equal(
      await post(`${path} not signed in`, path, form({ ...fields, csrf }), undefined, new UserAgent(idp.issuer)),
      403,
      `${path} from a browser that is not signed in`,
    );
    // A NUL byte in any field: 400, never a database error.
    for (const key of ['csrf-free', ...Object.keys(fields)]) {
      const hostile =
        key === 'csrf-free' ? { ...fields, extra: 'a\u0000b' } : { ...fields, [key]: `a\u0000${fields[key]}` };
      assert.equal(await post(`${path} NUL in ${key}`, path, form({ ...hostile, csrf })), 400, `${path} NUL in ${key}`);
    }
    assert.equal(await post(`${path} JSON`, path, JSON.stringify({ ...fields, csrf }), 'application/json'), 415);
    assert.equal(await post(`${path} duplicate field`, path, `${form({ ...fields, csrf })}&csrf=${csrf}`), 400);
    assert.equal(await post(`${path} too large`, path, form({ ...fields, csrf, pad: 'x'.repeat(20_000) })), 413);
    assert.equal(await post(`${path} broken encoding`, path, '%%%&&==&csrf'), 403);
  }

  // Oversized and malformed fields inside the size limit: 400 with the page, never a 500.
  assert.equal(await post('name too long', '/account/profile', form({ csrf, name: 'x'.repeat(5000) })), 400);
  assert.equal(
    await post('given name too long', '/account/profile', form({ csrf, name: 'A', given_name: 'x'.repeat(201) })),
    400,
  );
  assert.equal(await post('empty name', '/account/profile', form({ csrf, name: '   ' })), 400);
  assert.equal(
    await post(
      'password too long',
      '/account/password',
      form({ csrf, current_password: PASSWORD, new_password: 'x'.repeat(1025) }),
    ),
    400,
  );
  assert.equal(
    await post(
      'current password too long',
      '/account/password',
      form({ csrf, current_password: 'x'.repeat(5000), new_password: 'a fine passphrase' }),
    ),
    401,
  );
  assert.equal(
    await post('email not an address', '/account/email', form({ csrf, new_email: 'x', password: PASSWORD })),
    400,
  );
  assert.equal(
    await post(
      'email too long',
      '/account/email',
      form({ csrf, new_email: `${'x'.repeat(5000)}@example.com`, password: PASSWORD }),
    ),
    400,
  );
  assert.equal(
    await post(
      'email with a line break',
      '/account/email',
      form({ csrf, new_email: 'a@b.c\r\nBcc: x@y.z', password: PASSWORD }),
    ),
    400,
  );
  assert.equal(await post('email without password', '/account/email', form({ csrf, new_email: 'm@example.com' })), 400);
  assert.equal(
    await post(
      'email with a wrong password',
      '/account/email',
      form({ csrf, new_email: 'mallory@example.com', password: 'x'.repeat(5000) }),
    ),
    401,
  );
  assert.equal(
    await post(
      "another account's address",
      '/account/email',
      form({ csrf, new_email: other.email, password: PASSWORD }),
    ),
    409,
  );
  assert.equal(await post('session id garbage', '/account/sessions/end', form({ csrf, session: '../../x\'"<>' })), 400);
  assert.equal(
    await post('session id too long', '/account/sessions/end', form({ csrf, session: 'a'.repeat(5000) })),
    400,
  );
  assert.equal(
    await post('client id too long', '/account/apps/remove', form({ csrf, client_id: 'a'.repeat(5000) })),
    400,
  );
  assert.equal(
    await post("the page's own client", '/account/apps/remove', form({ csrf, client_id: 'latchkey-account' })),
    400,
  );
  assert.equal(await post('delete without confirming', '/account/delete', form({ csrf, password: PASSWORD })), 400);
  assert.equal(
    await post(
      'delete with a wrong password',
      '/account/delete',
      form({ csrf, password: 'wrong password!!', confirm: 'yes' }),
    ),
    401,
  );
  assert.equal(await post("another person's session", '/account/sessions/end', form({ csrf, session: 'AAAA' })), 303);
  // Second factors: a setup that is not this account's, or garbage, is a 400 page; nothing is saved.
  for (const [factorId, code] of [
    ['x'.repeat(5000), '123456'],
    ["'; drop table account_factors; --", '123456'],
    ['00000000-0000-0000-0000-000000000000', '<script>alert(1)</script>'],
    ['x', 'x'.repeat(5000)],
  ] as const) {
    assert.equal(
      await post('totp confirm garbage', '/account/mfa/totp/confirm', form({ csrf, factor_id: factorId, code })),
      400,
    );
  }
  assert.equal(await post('totp remove without password', '/account/mfa/totp/remove', form({ csrf })), 400);
  assert.equal(await post('totp setup without password', '/account/mfa/totp', form({ csrf })), 400);
  // Hostile GETs.
  for (const query of ['?done=<script>', `?done=${'x'.repeat(5000)}`, '?done=profile&done=app']) {
    const response = await agent.request(`/account${query}`);
    assert.equal(response.status, 200, query);
    assert.doesNotMatch(await response.text(), /<script>/);
  }
  for (const query of [
    `?code=${'x'.repeat(5000)}`,
    '?code=abc',
    '?error=access_denied',
    '?code=a&code=b',
    '?error=%00',
  ]) {
    const response = await agent.request(`/account/callback${query}`);
    assert.ok(response.status < 500, `callback ${query.slice(0, 20)}: ${response.status}`);
  }

  // The confirmation of a mailed link: its CSRF token is bound to a cookie of the browser (any page
  // of the mailed flows sets it), not to a session.
  for (const query of [
    '',
    '?token=',
    `?token=${'x'.repeat(43)}`,
    `?token=${'x'.repeat(5000)}`,
    '?token=<script>alert(1)</script>',
    '?token=a&token=b',
    '?token=%00',
  ]) {
    const response = await new UserAgent(idp.issuer).request(`/account/email/confirm${query}`);
    assert.equal(response.status, 400, `confirm ${query.slice(0, 20)}`);
    assert.doesNotMatch(await response.text(), /<script>alert/);
  }
  const stranger = new UserAgent(idp.issuer);
  const flowPage = await stranger.navigate('/forgot-password');
  const pageCsrf = formField(flowPage.body, 'csrf')!;
  const confirm = (fields: Record<string, string>, contentType?: string, body?: string) =>
    post('confirm', '/account/email/confirm', body ?? form(fields), contentType, stranger);
  assert.equal(await confirm({ token: 'x'.repeat(43) }), 403, 'confirm without CSRF');
  assert.equal(await confirm({ token: 'x'.repeat(43), csrf }), 403, "confirm with the account page's CSRF");
  assert.equal(await confirm({ token: 'x'.repeat(43), csrf: pageCsrf }), 400, 'a token that is not ours');
  assert.equal(await confirm({ token: 'x'.repeat(5000), csrf: pageCsrf }), 400, 'a token far too long');
  assert.equal(await confirm({ csrf: pageCsrf }), 400, 'no token');
  assert.equal(await confirm({ token: 'a\u0000b', csrf: pageCsrf }), 400, 'NUL in the token');
  assert.equal(await confirm({}, 'application/json', JSON.stringify({ csrf: pageCsrf, token: 'x' })), 415);
  assert.equal(await confirm({}, undefined, `${form({ csrf: pageCsrf, token: 'x' })}&token=y`), 400, 'duplicate field');
  assert.equal(await confirm({}, undefined, form({ csrf: pageCsrf, token: 'x', pad: 'x'.repeat(20_000) })), 413);

  assert.deepEqual(statuses, [], 'no 5xx');
  const { rows } = await idp.server.database.pool.query('select name, email from accounts where id = $1', [user.id]);
  assert.equal(rows[0]?.name, 'Alex', 'nothing changed the account');
  assert.equal(rows[0]?.email, user.email, 'nor its address');
  const { rows: links } = await idp.server.database.pool.query(
    `select 1 from account_tokens where account_id = $1 and kind = 'email_change'`,
    [user.id],
  );
  assert.equal(links.length, 0, 'no link was issued');
  const { rows: factors } = await idp.server.database.pool.query(
    `select 1 from account_factors where account_id = $1 and confirmed_at is not null`,
    [user.id],
  );
  assert.equal(factors.length, 0, 'no second factor was set up');
  const again = await agent.navigate('/account');
  assert.equal(again.response.status, 200, 'still signed in: nothing ended the session');
});

test('with ACCOUNT_DELETION_ENABLED=false the page offers no deletion and the form is refused', async (t) => {
  const idp = await startLatchkey(t, { ACCOUNT_DELETION_ENABLED: 'false' });
  const user = await idp.users.create();
  const { agent, csrf } = await signedIn(idp, user.email);
  const page = await agent.navigate('/account');
  assert.doesNotMatch(page.body, /action="\/account\/delete"/);
  const response = await agent.request('/account/delete', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ csrf, password: PASSWORD, confirm: 'yes' }).toString(),
  });
  assert.equal(response.status, 403);
  assert.equal(
    (await idp.server.database.pool.query('select 1 from accounts where id = $1', [user.id])).rowCount,
    1,
    'the account is still there',
  );
});
