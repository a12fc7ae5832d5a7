// Temporary: which queries each request makes (in-process server, pool.query wrapped).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';
import { createClients } from '../src/clients/clients.ts';
import { createClientStore } from '../src/clients/store.ts';
import { createAccountStore } from '../src/accounts/store.ts';
import { createPasswordHasher } from '../src/accounts/passwords.ts';
import { createSecretBox } from '../src/secret-box.ts';
import { runFlow, REDIRECT_URI, tokenRequest, startFlow, onFlowResponse } from './lib/flow.ts';
process.env.X = '1';

const name = `lkx_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query(`create database ${name}`);
const secret = randomBytes(32).toString('base64url');
const port = 40000 + Math.floor(Math.random() * 9000);
const config = loadConfig({ DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`, PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://127.0.0.1:${port}`, LATCHKEY_SECRET_KEY: secret, LOG_LEVEL: process.env.LL ?? 'warn' });
const server = await startServer(config, createLogger({ level: process.env.LL ?? 'warn' }));
const pool = server.database.pool;
const counts = new Map<string, number>();
const orig = pool.query.bind(pool);
(pool as any).query = (q: any, ...rest: any[]) => {
  const key = (typeof q === 'string' ? q.slice(0, 60) : (q.name ?? q.text?.slice(0, 60))) + (q?.name?.startsWith('oidc_payloads') && typeof q.values?.[0] === 'string' && q.values[0].length < 30 ? `(${q.values[0]})` : '');
  counts.set(key, (counts.get(key) ?? 0) + 1);
  return (orig as any)(q, ...rest);
};
const dump = (label: string) => { console.log(`--- ${label}:`, [...counts].map(([k, v]) => `${k} x${v}`).join(', ')); counts.clear(); };
const clients = createClients({ store: createClientStore({ query: orig } as any), box: createSecretBox(secret) } as any);
const c = await clients.create({ name: 'x', type: 'confidential', redirectUris: [REDIRECT_URI], grantTypes: ['authorization_code', 'refresh_token'], firstParty: true });
if (!c.ok) throw new Error('client');
const client = { clientId: c.client.client_id, clientSecret: c.clientSecret! };
const hash = await createPasswordHasher({ memoryKib: 19456, iterations: 2 }).hash('pw-pw-pw-pw');
await createAccountStore({ query: orig } as any).insert({ id: 'acc1', email: 'a@b.example', emailVerified: true, name: 'A', passwordHash: hash });
counts.clear();
const issuer = `http://127.0.0.1:${port}`;
// Step by step login.
const state = startFlow({ client, email: 'a@b.example', password: 'pw-pw-pw-pw', scope: 'openid profile email', exchange: true });
while (state.next) {
  const req = state.next;
  const res = await fetch(`${issuer}${req.path}`, { method: req.method, headers: req.headers, body: req.body, redirect: 'manual' });
  const headers: Record<string, string | string[]> = {}; res.headers.forEach((v, k) => { headers[k] = v; }); headers['set-cookie'] = res.headers.getSetCookie();
  const body = await res.text();
  onFlowResponse(state, res.status, headers, body);
  dump(`${req.method} ${req.path.slice(0, 40)} -> ${res.status}`);
  if (state.failure) console.log('FAIL', state.failure);
}
const at = state.tokens!.access_token;
const intro = tokenRequest(client, { token: at });
let r = await fetch(`${issuer}/introspect`, { method: 'POST', headers: intro.headers, body: intro.body });
console.log(r.status, (await r.text()).slice(0, 100)); dump('introspect');
r = await fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${at}` } });
console.log(r.status); dump('userinfo');
// concurrent consent flows on one session
const results = await Promise.all(Array.from({ length: 6 }, () => runFlow(issuer, { client, email: '', password: '', scope: 'openid offline_access', prompt: 'consent', exchange: true, cookies: state.jar })));
for (const r2 of results) console.log(r2.tokens?.refresh_token ? 'ok' : `fail: ${r2.failure}`);
counts.clear();
const r3 = await runFlow(issuer, { client, email: '', password: '', scope: 'openid offline_access', prompt: 'consent', exchange: true, cookies: state.jar });
console.log('sequential after:', r3.tokens?.refresh_token ? 'ok' : r3.failure);
await server.close(1000);
await admin.query(`drop database ${name} with (force)`);
await admin.end();
process.exit(0);
