import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { Context } from 'koa';
import type { Config } from '../config.ts';
import { pickLocale, type Strings } from './locales/index.ts';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

export interface Views {
  /** Renders `name` inside the layout as the response, with the request's language. */
  render(ctx: Context, name: string, data: Record<string, unknown> & { title: string }, status?: number): Promise<void>;
  strings(ctx: Pick<Context, 'get'>): Strings;
  /** CSS custom properties from the brand settings, served as /assets/theme.css (no inline styles under our CSP). */
  themeCss: string;
}

/**
 * EJS views. A theme folder (THEME_DIR) may override any template by file name, Keycloak-style;
 * templates are compiled once and cached. Every value is escaped by `<%= %>`; the only raw
 * outputs are the page body inside the layout and the engine's own logout form.
 */
export function createViews(options: { brand: Config['brand']; themeDir?: string | undefined }): Views {
  const compiled = new Map<string, Promise<ejs.TemplateFunction>>();
  async function template(name: string): Promise<ejs.TemplateFunction> {
    let fn = compiled.get(name);
    if (!fn) {
      fn = (async () => {
        const themed = options.themeDir ? path.join(options.themeDir, `${name}.ejs`) : undefined;
        const file = themed && await stat(themed).then(() => true, () => false) ? themed : path.join(VIEWS_DIR, `${name}.ejs`);
        return ejs.compile(await readFile(file, 'utf8'), { filename: file, async: false });
      })();
      fn.catch(() => compiled.delete(name));
      compiled.set(name, fn);
    }
    return fn;
  }
  const strings = (ctx: Pick<Context, 'get'>) => pickLocale(ctx.get('accept-language'));
  return {
    strings,
    themeCss: `:root { --primary: ${options.brand.primaryColor}; --focus: ${options.brand.primaryColor}; }\n`,
    async render(ctx, name, data, status = 200) {
      const t = strings(ctx);
      const locals = { ...data, t, brand: options.brand, lang: t.lang };
      const body = (await template(name))(locals);
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.set('Content-Language', t.lang);
      ctx.vary('Accept-Language');
      ctx.body = (await template('layout'))({ ...locals, body });
    },
  };
}
