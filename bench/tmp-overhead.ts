// Temporary experiment (not part of the bench): CPU per request of our app vs the bare engine handler, in-process.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startServer } from '../src/server.ts';

const name = `lkx_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query(`create database ${name}`);
const config = loadConfig({ DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`, PORT: '0', HOST: '127.0.0.1', ISSUER: 'http://127.0.0.1:1', LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64url'), LOG_LEVEL: 'warn', RATE_LIMIT_TOKEN_PER_MINUTE: '0' });
const server = await startServer(config, createLogger({ level: 'warn' }));
const engine = http.createServer(server.providerRef.current.callback());
await new Promise<void>((r) => engine.listen(0, '127.0.0.1', () => r()));
const enginePort = (engine.address() as import('node:net').AddressInfo).port;

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
function get(port: number, path: string) {
  return new Promise<void>((resolve, reject) => {
    http.get({ agent, host: '127.0.0.1', port, path }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
}
async function bench(label: string, port: number, path: string, n: number) {
  for (let i = 0; i < 500; i++) await get(port, path);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, () => get(port, path)));
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(30), ((c.user + c.system) / n).toFixed(0), 'µs/req (client+server)');
}
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
if (process.env.PROFILE_PATH) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await bench('warm', server.port, process.env.PROFILE_PATH, 2000);
  await session.post('Profiler.start');
  await bench('profiled app', server.port, process.env.PROFILE_PATH, 8000);
  const { profile } = await session.post('Profiler.stop');
  await writeFile('/tmp/lkx/app.cpuprofile', JSON.stringify(profile));
}
for (let round = 0; round < (process.env.PROFILE_PATH ? 0 : 2); round++) {
  await bench('app discovery', server.port, '/.well-known/openid-configuration', 4000);
  await bench('engine discovery', enginePort, '/.well-known/openid-configuration', 4000);
  await bench('app jwks', server.port, '/jwks', 4000);
  await bench('engine jwks', enginePort, '/jwks', 4000);
  await bench('app healthz', server.port, '/healthz', 4000);
}
engine.close();
await server.close(1000);
await admin.query(`drop database ${name} with (force)`);
await admin.end();
process.exit(0);
