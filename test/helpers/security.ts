import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { formField, UserAgent } from './browser.ts';
import { CALLBACK, type Latchkey } from './latchkey.ts';

/** Helpers of the security, hostile, lockout, rate-limit and failure suites. */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LoginPage { agent: UserAgent; csrf: string; loginUrl: URL; uid: string; body: string }

/** Starts an authorization (code + PKCE) as a browser would and stops at the login page. */
export async function openLoginPage(idp: Pick<Latchkey, 'issuer'>, rp: oidc.Configuration, params: Record<string, string> = {}): Promise<LoginPage> {
  const agent = new UserAgent(idp.issuer);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK, scope: 'openid', state: oidc.randomState(), nonce: oidc.randomNonce(),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const page = await agent.navigate(url);
  const csrf = formField(page.body, 'csrf');
  if (page.response.status !== 200 || !csrf) throw new Error(`expected the login page, got ${page.response.status} at ${page.url}`);
  return { agent, csrf, loginUrl: new URL(`${page.url.pathname}/login`, idp.issuer), uid: page.url.pathname.split('/')[2]!, body: page.body };
}

/** Posts the login form; returns the response (redirects not followed) and its body. */
export async function postLogin(page: LoginPage, email: string, password: string, csrf = page.csrf) {
  const response = await page.agent.request(page.loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, email, password }).toString(),
  });
  return { response, body: await response.text() };
}

/** The text of the login page's error alert, or undefined. */
export function loginAlert(html: string): string | undefined {
  return /id="login-error"[^>]*>[\s\S]*?<span>([^<]*)<\/span>/.exec(html)?.[1];
}

export interface SpawnedLatchkey {
  url: string;
  process: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `node --import tsx src/main.ts` as its own process (one process, WEB_CONCURRENCY=1) and
 * waits until /readyz answers 200 (at most `readyMs`).
 */
export async function spawnLatchkey(env: Record<string, string>, readyMs = 30_000): Promise<SpawnedLatchkey> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', WEB_CONCURRENCY: '1', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
  const url = `http://127.0.0.1:${env.PORT}`;
  const deadline = Date.now() + readyMs;
  let gone = false;
  void exited.then(() => { gone = true; });
  for (;;) {
    if (gone) throw new Error(`latchkey exited before it was ready:\n${output}`);
    const ready = await fetch(`${url}/readyz`).then((res) => res.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`latchkey was not ready within ${readyMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    process: child,
    output: () => output,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
