import autocannon from 'autocannon';
import {
  authorizePath,
  type BenchClient,
  CODE_VERIFIER,
  type FlowOptions,
  type FlowState,
  REDIRECT_URI,
  runFlow,
  tokenRequest,
} from './flow.ts';
import { flowRequests, type LoadSpec, type Measured, measure, singleRequest, type Tally } from './load.ts';
import { type PacedResult, runPaced } from './paced.ts';
import { API, PASSWORD, type Target } from './targets.ts';

/** How much work each scenario does; --quick divides it. */
export interface Sizes {
  discovery: number;
  logins: number;
  exchanges: number;
  refreshes: number;
  clientCredentials: number;
  introspections: number;
  userinfos: number;
  /** Seconds of each fixed-rate run. */
  pacedSeconds: number;
  /**
   * Operations run (unmeasured) before each measurement, so V8 has optimised the hot paths of every
   * worker (a few hundred are not enough: the first 1,500 code exchanges cost ~1.5x the next 5,000).
   * 0 skips warming up (the quick run, whose CPU figures are therefore higher).
   */
  warmup: number;
  /** Signed-in sessions the code and refresh scenarios draw on (more than the concurrent flows). */
  sessions: number;
  /** Opaque access tokens for introspection and userinfo. */
  tokens: number;
  /** Cap on each load run, whatever its size: the quick run is time-boxed. */
  maxMs: number;
  /** Run the fixed-rate latency runs against the baseline too (the quick run skips them). */
  pacedBaseline: boolean;
}

export const FULL: Sizes = {
  discovery: 20_000,
  logins: 1_000,
  exchanges: 6_000,
  refreshes: 4_000,
  clientCredentials: 20_000,
  introspections: 15_000,
  userinfos: 15_000,
  pacedSeconds: 10,
  warmup: 1000,
  sessions: 48,
  tokens: 300,
  maxMs: 90_000,
  pacedBaseline: true,
};
export const QUICK: Sizes = {
  discovery: 3_000,
  logins: 60,
  exchanges: 1_000,
  refreshes: 500,
  clientCredentials: 3_000,
  introspections: 3_000,
  userinfos: 3_000,
  pacedSeconds: 1.5,
  warmup: 0,
  sessions: 12,
  tokens: 60,
  maxMs: 2_000,
  pacedBaseline: false,
};

export interface Row {
  scenario: string;
  target: string;
  variant: string;
  measured?: Measured;
  paced?: PacedResult;
  note?: string;
}

interface Session {
  client: BenchClient;
  cookies: Map<string, string>;
}
interface IssuedToken {
  client: BenchClient;
  accessToken: string;
}

/** State shared between the scenarios of one target: sessions, tokens, the (user, client) counter. */
export interface RunContext {
  target: Target;
  sizes: Sizes;
  log: (line: string) => void;
  rows: Row[];
  pairs: number;
  sessions: Session[];
  accessTokens: IssuedToken[];
  /** A variant run (a setting other than the default, e.g. "LOG_LEVEL=warn"): added to each row's run, no paced runs. */
  label?: string;
}

const tally = (): Tally => ({ ok: 0, errors: 0, opLatencies: [], lastAt: 0 });

/**
 * The i-th login uses a (user, client) pair no earlier login used, so every login approves the
 * app exactly as a first sign-in does (first-party: implied, its Grant saved as the sign-in resumes).
 */
function nextPair(ctx: RunContext): { email: string; client: BenchClient } {
  const k = ctx.pairs++;
  const users = ctx.target.userCount;
  const clients = ctx.target.loginClients;
  return { email: ctx.target.email(k % users), client: clients[(k + Math.floor(k / users)) % clients.length]! };
}

function loginOptions(ctx: RunContext, extra: Partial<FlowOptions> = {}): FlowOptions {
  const { email, client } = nextPair(ctx);
  return { client, email, password: PASSWORD, scope: 'openid profile email', exchange: true, ...extra };
}

function record(ctx: RunContext, row: Row) {
  if (ctx.label) row.variant = `${row.variant}, ${ctx.label}`;
  ctx.rows.push(row);
  const m = row.measured;
  if (m) {
    ctx.log(
      `  ${row.scenario} [${row.variant}]: ${m.ops} ops in ${m.durationS.toFixed(1)} s = ${m.opsPerS.toFixed(0)}/s, ` +
        `p50 ${m.p50} ms p99 ${m.p99} ms, errors ${m.errors}, CPU/op server ${m.serverCpuMsPerOp.toFixed(3)} + pg ${m.pgCpuMsPerOp.toFixed(3)} ms`,
    );
  }
  const p = row.paced;
  if (p)
    ctx.log(
      `  ${row.scenario} [${row.variant}]: ${p.achievedRate.toFixed(0)}/s, p50 ${p.p50.toFixed(1)} ms p90 ${p.p90.toFixed(1)} ms p99 ${p.p99.toFixed(1)} ms, errors ${p.errors}`,
    );
}

async function load(ctx: RunContext, spec: Omit<LoadSpec, 'url' | 'maxMs'>): Promise<Measured> {
  return measure(ctx.target.cpu, { ...spec, url: ctx.target.issuer, maxMs: ctx.sizes.maxMs });
}

async function ensureSessions(ctx: RunContext, count: number) {
  while (ctx.sessions.length < count) {
    const state = await runFlow(ctx.target.issuer, loginOptions(ctx, { exchange: false }));
    if (!state.code) throw new Error(`could not sign in for a session: ${state.failure}`);
    ctx.sessions.push({ client: state.options.client, cookies: state.jar });
  }
}

/** Codes from signed-in sessions: one GET /authorize each (no login, no consent: the grant exists). */
async function mintCodes(ctx: RunContext, count: number): Promise<Array<{ client: BenchClient; code: string }>> {
  await ensureSessions(ctx, ctx.sizes.sessions);
  const codes: Array<{ client: BenchClient; code: string }> = [];
  let i = 0;
  let failures = 0;
  const requests: autocannon.Request[] = [
    {
      setupRequest(request, context) {
        const session = ctx.sessions[i++ % ctx.sessions.length]!;
        (context as { client?: BenchClient }).client = session.client;
        const cookie = [...session.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
        const path = authorizePath({
          client: session.client,
          email: '',
          password: '',
          scope: 'openid profile email',
          exchange: false,
        });
        return { ...request, method: 'GET', path, headers: { cookie } };
      },
      onResponse(_status, _body, context, headers) {
        const location = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === 'location')?.[1];
        const code =
          typeof location === 'string' && location.startsWith(REDIRECT_URI)
            ? new URL(location).searchParams.get('code')
            : null;
        if (code) codes.push({ client: (context as { client: BenchClient }).client, code });
        else failures += 1;
      },
    },
  ];
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      { url: ctx.target.issuer, connections: 16, amount: count, timeout: 10, sampleInt: 100, requests },
      (err) => {
        clearTimeout(timer);
        if (err) reject(err as Error);
        else resolve();
      },
    );
    const timer = setTimeout(() => instance.stop(), ctx.sizes.maxMs);
  });
  if (failures) ctx.log(`  (minting: ${failures} of ${count} /authorize requests gave no code)`);
  return codes;
}

async function discovery(ctx: RunContext) {
  const make = (i: number) => ({
    method: 'GET' as const,
    path: i % 2 ? '/jwks' : '/.well-known/openid-configuration',
    headers: {},
  });
  if (ctx.sizes.warmup)
    await load(ctx, {
      connections: 32,
      ops: ctx.sizes.warmup * 4,
      steps: 1,
      tally: tally(),
      requests: singleRequest({ make, check: (s) => s === 200, tally: tally() }),
    });
  const t = tally();
  const measured = await load(ctx, {
    connections: 32,
    ops: ctx.sizes.discovery,
    steps: 1,
    tally: t,
    requests: singleRequest({ make, check: (s) => s === 200, tally: t }),
  });
  record(ctx, {
    scenario: 'discovery+jwks',
    target: ctx.target.name,
    variant: 'max',
    measured,
    note: 'alternating GET /.well-known/openid-configuration and GET /jwks',
  });
}

async function login(ctx: RunContext) {
  // How many requests one login takes on this target (the baseline has no pages).
  const probe = await runFlow(ctx.target.issuer, loginOptions(ctx));
  if (!probe.tokens) throw new Error(`login probe failed: ${probe.failure}`);
  const steps = probe.steps;
  const run = async (ops: number) => {
    const t = tally();
    const requests = flowRequests({ steps, flow: () => loginOptions(ctx), tally: t });
    return load(ctx, { connections: 16, ops, steps, tally: t, requests });
  };
  if (ctx.sizes.warmup) await run(Math.max(20, Math.round(ctx.sizes.warmup / 10)));
  const measured = await run(ctx.sizes.logins);
  const how =
    ctx.target.name === 'latchkey'
      ? 'GET /authorize, login page, POST password (argon2id), resume: implied consent of a first-party app (Grant saved) and the code, POST /token'
      : 'GET /authorize, interaction finished without password or page, consent Grant saved, code, POST /token';
  record(ctx, {
    scenario: 'login',
    target: ctx.target.name,
    variant: 'max',
    measured,
    note: `${steps} requests per login: ${how}`,
  });
}

async function codeExchange(ctx: RunContext) {
  const exchange = ({ client, code }: { client: BenchClient; code: string }) =>
    tokenRequest(client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: CODE_VERIFIER,
    });
  const run = (codes: Array<{ client: BenchClient; code: string }>) => {
    const t = tally();
    const requests = singleRequest({
      make: (i) => exchange(codes[i % codes.length]!),
      check: (s) => s === 200,
      tally: t,
    });
    return load(ctx, { connections: 32, ops: codes.length, steps: 1, tally: t, requests });
  };
  // Codes live 60 s at most: each batch is minted right before it is used.
  if (ctx.sizes.warmup) await run(await mintCodes(ctx, ctx.sizes.warmup));
  const measured = await run(await mintCodes(ctx, ctx.sizes.exchanges));
  record(ctx, {
    scenario: 'code exchange',
    target: ctx.target.name,
    variant: 'max',
    measured,
    note: 'POST /token authorization_code with PKCE, client_secret_basic; returns RS256 ID token + opaque access token',
  });

  const rate = 500;
  if (!ctx.label && ctx.sizes.pacedSeconds > 0 && (ctx.target.name === 'latchkey' || ctx.sizes.pacedBaseline)) {
    const pacedCodes = await mintCodes(ctx, Math.round(rate * ctx.sizes.pacedSeconds));
    const paced = await runPaced({
      url: ctx.target.issuer,
      rate,
      total: pacedCodes.length,
      maxMs: ctx.sizes.pacedSeconds * 1000 + 1000,
      isOk: (s) => s === 200,
      request: (i) => exchange(pacedCodes[i]!),
    });
    record(ctx, { scenario: 'code exchange', target: ctx.target.name, variant: `paced ${rate}/s`, paced });
  }
}

async function refresh(ctx: RunContext) {
  // Each consent flow ends with the engine giving its session a new id (the old row is deleted), so
  // a session serves one flow at a time and goes back to the pool with the cookies that flow ended with.
  await ensureSessions(ctx, ctx.sizes.sessions);
  const idle = [...ctx.sessions];
  ctx.sessions.length = 0;
  const collect = async (count: number) => {
    const tokens: Array<{ client: BenchClient; refreshToken: string }> = [];
    const consentFlow = (): FlowOptions => {
      const session = idle.shift();
      // Only when earlier flows failed and took their sessions with them: this flow fails too (counted).
      if (!session)
        return {
          client: ctx.target.loginClients[0]!,
          email: '',
          password: '',
          scope: 'openid offline_access',
          prompt: 'consent',
          exchange: true,
        };
      return {
        client: session.client,
        email: '',
        password: '',
        scope: 'openid offline_access',
        prompt: 'consent',
        exchange: true,
        cookies: session.cookies,
      };
    };
    const release = (state: FlowState) => idle.push({ client: state.options.client, cookies: state.jar });
    const probe = await runFlow(ctx.target.issuer, consentFlow());
    if (!probe.tokens?.refresh_token)
      throw new Error(`no refresh token from the consent flow: ${probe.failure ?? 'offline_access not granted'}`);
    release(probe);
    const t = tally();
    const requests = flowRequests({
      steps: probe.steps,
      flow: consentFlow,
      tally: t,
      onDone: (state: FlowState) => {
        if (state.tokens?.refresh_token)
          tokens.push({ client: state.options.client, refreshToken: state.tokens.refresh_token });
        release(state);
      },
    });
    // Fewer concurrent flows than sessions: each flow holds its session until it ends.
    await load(ctx, {
      connections: Math.min(16, ctx.sizes.sessions - 4),
      ops: count,
      steps: probe.steps,
      tally: t,
      requests,
    });
    return tokens;
  };
  const run = (tokens: Array<{ client: BenchClient; refreshToken: string }>) => {
    const t = tally();
    const requests = singleRequest({
      make: (i) =>
        tokenRequest(tokens[i % tokens.length]!.client, {
          grant_type: 'refresh_token',
          refresh_token: tokens[i % tokens.length]!.refreshToken,
        }),
      check: (status) => status === 200,
      tally: t,
    });
    return load(ctx, { connections: 32, ops: tokens.length, steps: 1, tally: t, requests });
  };
  try {
    if (ctx.sizes.warmup) await run(await collect(Math.min(ctx.sizes.warmup, 500)));
    const tokens = await collect(ctx.sizes.refreshes);
    const measured = await run(tokens);
    record(ctx, {
      scenario: 'refresh',
      target: ctx.target.name,
      variant: 'max',
      measured,
      note: 'POST /token refresh_token (each token once: rotation), returns RS256 ID token + opaque access token + new refresh token',
    });
  } finally {
    // Sessions whose flow failed are lost; the survivors serve the later scenarios.
    ctx.sessions.push(...idle);
  }
}

/**
 * client_credentials as a service asks for it by default: no `resource`, so an opaque token that
 * the server stores (Latchkey: a row in oidc_payloads, committed before the response). With
 * `resource` (the API): an ES256 JWT, nothing stored: the variant row.
 */
function clientCredentials(withResource: boolean) {
  return async function clientCredentialsScenario(ctx: RunContext) {
    const request = tokenRequest(ctx.target.ccClient, {
      grant_type: 'client_credentials',
      ...(withResource ? { resource: API.identifier, scope: API.scope } : {}),
    });
    const scenario = withResource ? 'client_credentials+resource' : 'client_credentials';
    const run = (ops: number) => {
      const t = tally();
      return load(ctx, {
        connections: 32,
        ops,
        steps: 1,
        tally: t,
        requests: singleRequest({ make: () => request, check: (s) => s === 200, tally: t }),
      });
    };
    if (ctx.sizes.warmup) await run(ctx.sizes.warmup * 4);
    const measured = await run(ctx.sizes.clientCredentials);
    record(ctx, {
      scenario,
      target: ctx.target.name,
      variant: 'max',
      measured,
      note: withResource
        ? 'POST /token client_credentials for an API (resource indicator): ES256 JWT access token, nothing stored'
        : 'POST /token client_credentials without resource: opaque access token, stored',
    });
    const rate = 1500;
    if (
      withResource ||
      ctx.label ||
      !ctx.sizes.pacedSeconds ||
      (ctx.target.name === 'baseline' && !ctx.sizes.pacedBaseline)
    )
      return;
    const paced = await runPaced({
      url: ctx.target.issuer,
      rate,
      total: Math.round(rate * ctx.sizes.pacedSeconds),
      maxMs: ctx.sizes.pacedSeconds * 1000 + 1000,
      isOk: (s) => s === 200,
      request: () => request,
    });
    record(ctx, { scenario, target: ctx.target.name, variant: `paced ${rate}/s`, paced });
  };
}

/**
 * Opaque access tokens for introspection and userinfo, minted right before them: the refresh
 * scenario's consent flows authorize the same (session, client) pairs again, which replaces their
 * grants and so ends the tokens issued earlier.
 */
async function mintAccessTokens(ctx: RunContext) {
  const exchange = ({ client, code }: { client: BenchClient; code: string }) =>
    tokenRequest(client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: CODE_VERIFIER,
    });
  ctx.accessTokens.length = 0;
  for (const minted of await mintCodes(ctx, ctx.sizes.tokens)) {
    const request = exchange(minted);
    const response = await fetch(`${ctx.target.issuer}${request.path}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(10_000),
    });
    if (response.ok)
      ctx.accessTokens.push({
        client: minted.client,
        accessToken: ((await response.json()) as { access_token: string }).access_token,
      });
  }
}

function needTokens(ctx: RunContext) {
  if (ctx.accessTokens.length === 0) throw new Error('no access tokens could be minted (no code was exchanged)');
}

async function introspection(ctx: RunContext) {
  await mintAccessTokens(ctx);
  needTokens(ctx);
  const tokens = ctx.accessTokens;
  const run = (ops: number) => {
    const t = tally();
    const requests = singleRequest({
      make: (i) => {
        const { client, accessToken } = tokens[i % tokens.length]!;
        return {
          ...tokenRequest(client, { token: accessToken, token_type_hint: 'access_token' }),
          path: '/introspect',
        };
      },
      check: (status, body) => status === 200 && body.includes('"active":true'),
      tally: t,
    });
    return load(ctx, { connections: 32, ops, steps: 1, tally: t, requests });
  };
  if (ctx.sizes.warmup) await run(ctx.sizes.warmup * 4);
  const measured = await run(ctx.sizes.introspections);
  record(ctx, {
    scenario: 'introspection',
    target: ctx.target.name,
    variant: 'max',
    measured,
    note: 'POST /introspect of an opaque access token by its client (client_secret_basic)',
  });
}

async function userinfo(ctx: RunContext) {
  if (ctx.accessTokens.length === 0) await mintAccessTokens(ctx);
  needTokens(ctx);
  const tokens = ctx.accessTokens;
  const run = (ops: number) => {
    const t = tally();
    const requests = singleRequest({
      make: (i) => ({
        method: 'GET',
        path: '/userinfo',
        headers: { authorization: `Bearer ${tokens[i % tokens.length]!.accessToken}` },
      }),
      check: (status) => status === 200,
      tally: t,
    });
    return load(ctx, { connections: 32, ops, steps: 1, tally: t, requests });
  };
  if (ctx.sizes.warmup) await run(ctx.sizes.warmup * 4);
  const measured = await run(ctx.sizes.userinfos);
  record(ctx, {
    scenario: 'userinfo',
    target: ctx.target.name,
    variant: 'max',
    measured,
    note: 'GET /userinfo with an opaque access token (scope openid profile email)',
  });
}

export const SCENARIOS = {
  discovery,
  login,
  'code-exchange': codeExchange,
  refresh,
  'client-credentials': clientCredentials(false),
  'client-credentials-resource': clientCredentials(true),
  introspection,
  userinfo,
} as const;
export type ScenarioName = keyof typeof SCENARIOS;
