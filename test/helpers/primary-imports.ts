import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

/**
 * Preloaded (`--import`) into a Latchkey started by test/cluster.thin-primary.test.ts: in the
 * cluster primary only (not the preparing child, not a worker), records every module it loads
 * (ESM through a resolve hook, CommonJS from require's cache, Node's own from moduleLoadList) and
 * writes them to RECORD_PRIMARY_IMPORTS when the process exits.
 */
const file = process.env.RECORD_PRIMARY_IMPORTS;
if (file && cluster.isPrimary && process.env.LATCHKEY_ROLE === undefined) {
  const esm = new Set<string>();
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (url: string) => esm.add(url));
  port1.unref();
  const hooks = `
    let port;
    export function initialize(data) { port = data.port; }
    export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      port.postMessage(resolved.url);
      return resolved;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] });
  process.on('exit', () => {
    const cjs = Object.keys(createRequire(import.meta.url).cache);
    writeFileSync(
      file,
      JSON.stringify({ esm: [...esm], cjs, builtins: (process as { moduleLoadList?: string[] }).moduleLoadList ?? [] }),
    );
  });
}
