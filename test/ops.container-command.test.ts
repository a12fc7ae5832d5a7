import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from './helpers/latchkey.ts';
import { ROOT } from './helpers/processes.ts';
import { spawnServer } from './helpers/spawned-server.ts';

/**
 * The image can't be built here (no Docker daemon in CI), so this runs what it would run: the
 * Dockerfile's final stage (its COPY lines laid out as the image has them, its ENV, WORKDIR and
 * exact CMD) with the environment docker-compose.yml gives the latchkey service.
 */

interface FinalStage {
  workdir: string;
  copies: Array<{ from: string; to: string }>;
  env: Record<string, string>;
  cmd: string[];
  healthcheck: string[];
}

function parseDockerfile(text: string): FinalStage {
  // Continuation lines joined; only the stage after the last FROM is the image.
  const lines = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stage = lines.slice(lines.findLastIndex((line) => line.startsWith('FROM ')) + 1);
  const final: FinalStage = { workdir: '/', copies: [], env: {}, cmd: [], healthcheck: [] };
  for (const line of stage) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (instruction === 'WORKDIR') final.workdir = args;
    if (instruction === 'ENV') for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) final.env[key!] = value!;
    if (instruction === 'CMD') final.cmd = JSON.parse(args) as string[];
    if (instruction === 'HEALTHCHECK') final.healthcheck = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[];
    if (instruction === 'COPY' && !args.startsWith('--from')) {
      const parts = rest.filter((part) => !part.startsWith('--'));
      final.copies.push({ from: parts[0]!, to: parts[1]! });
    }
  }
  return final;
}

/** The `environment:` map of one service in docker-compose.yml, with ${VAR...} taken from `vars`. */
function composeEnvironment(text: string, service: string, vars: Record<string, string>): Record<string, string> {
  const lines = text.split('\n');
  const start = lines.indexOf(`  ${service}:`);
  assert.ok(start >= 0, `service ${service} in docker-compose.yml`);
  const environment = lines.findIndex((line, i) => i > start && line === '    environment:');
  const env: Record<string, string> = {};
  for (const line of lines.slice(environment + 1)) {
    if (line.trim().startsWith('#')) continue;
    const match = /^ {6}(\w+): (.*)$/.exec(line);
    if (!match) break;
    const value = match[2]!.replace(/^"(.*)"$/, '$1').replace(/\$\{(\w+)(?::[?-][^}]*)?\}/g, (_, name: string) => {
      assert.ok(name in vars, `${name} comes from the operator's environment`);
      return vars[name]!;
    });
    env[match[1]!] = value;
  }
  return env;
}

test("the container's CMD with docker-compose's environment serves /readyz, pages and its HEALTHCHECK passes", async (t) => {
  const image = parseDockerfile(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  assert.deepEqual(image.cmd.slice(0, 1), ['node']);
  const compose = composeEnvironment(await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8'), 'latchkey', {
    LATCHKEY_SECRET_KEY: randomBytes(32).toString('base64'),
  });
  assert.equal(compose.ISSUER, 'http://localhost:3000');
  assert.match(compose.DATABASE_URL ?? '', /^postgres:\/\/\w+:\w+@postgres:5432\/\w+$/);

  // The image's file system: what the final stage copies, and the deps stage's node_modules.
  const root = await mkdtemp(path.join(os.tmpdir(), 'latchkey-image-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const app = path.join(root, image.workdir);
  for (const { from, to } of image.copies) {
    // As in Docker, a destination ending in / is a directory the source goes into.
    const target = to.endsWith('/') ? path.join(path.resolve(app, to), path.basename(from)) : path.resolve(app, to);
    await cp(path.join(ROOT, from), target, { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'), 'dir');

  // Metrics for the compose network only: on all of the container's addresses, a port not published.
  assert.deepEqual([compose.METRICS_HOST, compose.METRICS_PORT], ['0.0.0.0', '9464']);
  // The database and the ports are the test's (spawnServer's); the rest is exactly what the container gets.
  const {
    DATABASE_URL: _database,
    PORT: _port,
    METRICS_HOST: _metricsHost,
    METRICS_PORT: _metricsPort,
    ...rest
  } = compose;
  const server = await spawnServer(t, {
    command: [process.execPath, ...image.cmd.slice(1)],
    cwd: app,
    env: { ...image.env, ...rest, HOST: '127.0.0.1' },
  });
  assert.equal({ ...image.env, ...compose }.NODE_ENV, 'development', 'compose runs the image over http on localhost');

  const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as {
    issuer: string;
  };
  assert.equal(discovery.issuer, 'http://localhost:3000');
  const page = await fetch(`${server.url}/authorize?client_id=nobody&response_type=code&scope=openid`, {
    headers: { accept: 'text/html' },
  });
  assert.equal(page.status, 400);
  assert.match(await page.text(), /<html/i, 'the error page renders from the copied views');

  const [healthcheckCommand, ...healthcheckArgs] = image.healthcheck;
  assert.equal(healthcheckCommand, 'node');
  const healthcheck = spawn(process.execPath, healthcheckArgs, {
    env: { PATH: process.env.PATH ?? '', PORT: String(server.port) },
    timeout: 10_000,
  });
  assert.equal(await new Promise((resolve) => healthcheck.once('exit', resolve)), 0, 'HEALTHCHECK passes');
  const otherPort = await freePort();
  const failing = spawn(process.execPath, healthcheckArgs, {
    env: { PATH: process.env.PATH ?? '', PORT: String(otherPort) },
    timeout: 10_000,
  });
  assert.equal(
    await new Promise((resolve) => failing.once('exit', resolve)),
    1,
    'HEALTHCHECK fails when nothing answers',
  );

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, server.output());
});
