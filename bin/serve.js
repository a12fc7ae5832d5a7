#!/usr/bin/env node
// `npm start` and the container's command: the server (src/main.ts), primary and cluster workers
// alike (node:cluster re-runs this file). It runs src compiled to dist/ when that is current
// (bin/compiled.js): measured on Node 24, a process running JavaScript idles 17 MiB smaller than
// one whose TypeScript Node strips at load (bench/README.md). Otherwise Node 22.18+/23.6+ strip the
// types themselves (process.features.typescript), and older Node goes through tsx.
import { COMPILED_ENTRY, compiledIsCurrent } from './compiled.js';

let entry = COMPILED_ENTRY.href;
if (!compiledIsCurrent()) {
  entry = '../src/main.ts';
  if (!process.features.typescript) {
    const { register } = await import('tsx/esm/api');
    register();
  }
}
const { serve } = await import(entry);
await serve(process.env);
