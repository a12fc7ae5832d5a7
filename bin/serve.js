#!/usr/bin/env node
// `npm start` and the container's command: the server (src/main.ts), primary and cluster workers
// alike (node:cluster re-runs this file). Node 22.18+/23.6+ run the TypeScript by stripping its
// types (process.features.typescript); measured on Node 24, a worker then idles ~20 MiB smaller
// than through the tsx loader, which keeps transformed sources in memory (bench/README.md).
// Older Node goes through tsx, as before.
if (!process.features.typescript) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { serve } = await import('../src/main.ts');
await serve(process.env);
