#!/usr/bin/env node
// `npm run build`, run by `npm install` and `npm ci` (prepare): compiles src/ to dist/
// (tsconfig.build.json) for `npm start` and the container image (bin/serve.js). A production
// install has neither TypeScript nor, in the image's dependency stage, src/: nothing to compile
// there, and the server runs the TypeScript itself.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url);
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.exit(0);
}
if (!existsSync(new URL('src/main.ts', root))) process.exit(0);
// Nothing left over from files src/ no longer has.
rmSync(new URL('dist/', root), { recursive: true, force: true });
const { status } = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
process.exit(status ?? 1);
