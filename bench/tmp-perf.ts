import { spawn } from 'node:child_process';
import { startLatchkeyTarget } from './lib/targets.ts';
import { FULL, mintCodes, type RunContext } from './lib/scenarios.ts';
import { measure, singleRequest } from './lib/load.ts';
import { CODE_VERIFIER, REDIRECT_URI, tokenRequest } from './lib/flow.ts';
const scenario = process.env.SCENARIO ?? 'code';
const t = await startLatchkeyTarget({ log: console.log, workers: 1, nodeFlags: ['--perf-basic-prof-only-functions'] });
const ctx: RunContext = { target: t, sizes: FULL, log: console.log, rows: [], pairs: 0, sessions: [], accessTokens: [], maxMs: 60000 };
const pid = t.cpu.memory()[0]!;
async function exchange(n: number, perf: boolean) {
  const codes = await mintCodes(ctx, n);
  const tally = { ok: 0, errors: 0, opLatencies: [], lastAt: 0 };
  const requests = singleRequest({ make: (i) => tokenRequest(codes[i]!.client, { grant_type: 'authorization_code', code: codes[i]!.code, redirect_uri: REDIRECT_URI, code_verifier: CODE_VERIFIER }), check: (s) => s === 200, tally });
  const rec = perf ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', '/tmp/perf.data'], { stdio: 'ignore' }) : undefined;
  const m = await measure(t.cpu, { url: t.issuer, connections: 16, ops: codes.length, steps: 1, tally, requests, maxMs: 60000 });
  rec?.kill('SIGINT');
  if (rec) await new Promise((r) => rec.once('exit', r));
  console.log(`ops ${m.ops} ${m.opsPerS.toFixed(0)}/s server ${m.serverCpuMsPerOp.toFixed(3)} pg ${m.pgCpuMsPerOp.toFixed(3)}`);
}
await exchange(1500, false);
await exchange(5000, true);
await t.stop();
