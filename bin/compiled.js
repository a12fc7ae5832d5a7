// Whether dist/ (src compiled by `npm run build`, which `npm install` and `npm ci` run) is at
// least as new as every file under src/: only then does the server run it. After a source change
// and before the next build, the server runs the TypeScript itself, so what runs is what is in src.
import { readdirSync, statSync } from 'node:fs';

const ROOT = new URL('..', import.meta.url);

export const COMPILED_ENTRY = new URL('dist/main.js', ROOT);

export function compiledIsCurrent() {
  const built = statSync(COMPILED_ENTRY, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return false;
  const newer = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const file = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
      return entry.isDirectory() ? newer(file) : statSync(file).mtimeMs > built;
    });
  return !newer(new URL('src/', ROOT));
}
