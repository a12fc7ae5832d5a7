import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, ConfigSchema, loadConfig } from '../src/config.ts';
import { runNode, stderrLines } from './helpers/processes.ts';

const SECRET = 'k'.repeat(43);

function configError(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail('loadConfig accepted the configuration');
}

/** `npm start` with exactly `env` and a data dir of its own. */
const start = (env: Record<string, string>, dataDir: string) =>
  runNode(['--import', 'tsx', 'src/main.ts'], { LATCHKEY_DATA_DIR: dataDir, ...env });

test('loadConfig reports one line per problem, each naming its variable', () => {
  const lines = configError({
    PORT: 'notaport',
    LOG_LEVEL: 'loud',
    DATABASE_URL: 'mysql://db/x',
    LATCHKEY_SECRET_KEY: 'short',
  });
  assert.equal(lines.length, 4, lines.join('\n'));
  for (const name of ['PORT', 'LOG_LEVEL', 'DATABASE_URL', 'LATCHKEY_SECRET_KEY']) {
    assert.equal(
      lines.filter((line) => line.startsWith(`config: ${name}: `)).length,
      1,
      `${name} in:\n${lines.join('\n')}`,
    );
  }
  for (const line of lines) assert.doesNotMatch(line, /[{}]|\s+at \S+ \(/, 'a sentence, not a dump');
});

test('loadConfig applies the documented defaults', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.issuer, 'http://localhost:3000');
  assert.equal(config.databaseUrl, undefined, 'no DATABASE_URL: embedded PostgreSQL');
  assert.equal(config.dataDir, path.resolve('.data'));
  assert.deepEqual(
    config.metrics,
    { port: 9464, host: '127.0.0.1' },
    'metrics on a listener of their own, this machine only',
  );
  assert.equal(
    loadConfig({ PORT: '4000', METRICS_PORT: '4000' }).metrics,
    'public',
    'the same port as PORT asks for the public port',
  );
  assert.equal(loadConfig({ METRICS_PORT: 'off' }).metrics, 'off');
  assert.equal(
    loadConfig({ PORT: '4000', ISSUER: 'https://id.example.com/' }).issuer,
    'https://id.example.com',
    'no trailing slash',
  );
});

test('production refuses an http issuer and a missing secret key', () => {
  assert.deepEqual(
    configError({ NODE_ENV: 'production', ISSUER: 'http://id.example.com', LATCHKEY_SECRET_KEY: SECRET }),
    ['config: ISSUER: must be an https URL in production'],
  );
  assert.deepEqual(configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.com' }), [
    'config: LATCHKEY_SECRET_KEY: required in production',
  ]);
  assert.equal(
    loadConfig({
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com',
      LATCHKEY_SECRET_KEY: SECRET,
      SMTP_URL: 'smtp://mail.example.com:587',
    }).issuer,
    'https://id.example.com',
  );
});

test('production refuses a mail-sending flow asked for without SMTP_URL, in one line', () => {
  const production = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', LATCHKEY_SECRET_KEY: SECRET };
  assert.deepEqual(configError({ ...production, PASSWORD_RESET_ENABLED: 'true' }), [
    'config: SMTP_URL: required in production to send the mails of PASSWORD_RESET_ENABLED (or set PASSWORD_RESET_ENABLED=false)',
  ]);
});

test('production refuses sign-up without SMTP_URL, in one line', () => {
  const production = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', LATCHKEY_SECRET_KEY: SECRET };
  assert.deepEqual(configError({ ...production, SIGNUP_ENABLED: 'true' }), [
    'config: SMTP_URL: required in production to send the mails of SIGNUP_ENABLED (or set SIGNUP_ENABLED=false)',
  ]);
});

test('password reset is on by default wherever its mail can leave', () => {
  const production = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', LATCHKEY_SECRET_KEY: SECRET };
  assert.equal(loadConfig(production).flows.resetEnabled, false, 'production without SMTP_URL still starts');
  assert.equal(loadConfig({ ...production, SMTP_URL: 'smtp://mail.example.com' }).flows.resetEnabled, true);
  assert.equal(loadConfig({ ...production, PASSWORD_RESET_ENABLED: 'false' }).flows.resetEnabled, false);
  assert.deepEqual(loadConfig({}).flows, {
    resetEnabled: true,
    resetTtlSeconds: 1800,
    inviteTtlSeconds: 604_800,
    signUpEnabled: false,
    signUpRequiresVerifiedEmail: true,
  });
  assert.equal(loadConfig({ PASSWORD_RESET_ENABLED: 'no' }).flows.resetEnabled, false);
});

test('npm start with a bad PORT exits 1 with one line naming PORT, no stack trace', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-config-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));

  const run = await start({ PORT: 'notaport' }, dataDir);
  assert.equal(run.code, 1);
  const lines = stderrLines(run);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^config: PORT: /);
  assert.doesNotMatch(run.stderr + run.stdout, /\n\s+at |Error:/, 'no stack trace');
});

test('npm start in production with an http ISSUER exits 1 and says why', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-config-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));

  const run = await start(
    { NODE_ENV: 'production', ISSUER: 'http://id.example.com', LATCHKEY_SECRET_KEY: SECRET },
    dataDir,
  );
  assert.equal(run.code, 1);
  assert.deepEqual(stderrLines(run), ['config: ISSUER: must be an https URL in production']);
});

test('npm start with an unreachable DATABASE_URL exits 1 with one line, never half-started', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-config-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));

  const run = await start({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/latchkey', PORT: '0' }, dataDir);
  assert.equal(run.code, 1);
  const lines = stderrLines(run);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^latchkey: cannot connect to PostgreSQL at DATABASE_URL/);
});

test('every setting in the config schema is documented in README', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const missing = Object.keys(ConfigSchema.shape).filter((key) => !readme.includes(`| \`${key}\` |`));
  assert.deepEqual(missing, []);
});
