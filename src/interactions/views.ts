import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { Context } from 'koa';
import type { Config } from '../config.ts';
import { pickLocale, type Strings } from './locales/index.ts';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

/** The scripts of a page with passkeys: the WebAuthn helper library, then ours (app.ts serves both). */
export const PASSKEY_SCRIPTS = ['/assets/simplewebauthn-browser.js', '/assets/passkeys.js'];

export interface Views {
  /** Renders `name` inside the layout as the response, with the request's language. */
  render(ctx: Context, name: string, data: Record<string, unknown> & { title: string }, status?: number): Promise<void>;
  strings(ctx: Pick<Context, 'acceptsLanguages'>): Strings;
  /** CSS custom properties from the brand settings, served as /assets/theme.css (no inline styles under our CSP). */
  themeCss: string;
}

/** WCAG 2.x relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const [r = 0, g = 0, b = 0] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

const WHITE = '#ffffff';
const INK = '#1b1f2a';

/**
 * The brand colour as CSS custom properties. An operator may pick any colour, so the colours
 * that carry text or focus are derived to keep WCAG AA contrast: button text is white or ink,
 * whichever reads better on the brand colour; links and the focus ring fall back to ink when
 * the brand colour is too light on white (4.5:1 for text, 3:1 for the focus indicator).
 */
export function brandCss(primary: string): string {
  const onPrimary = contrast(primary, WHITE) >= contrast(primary, INK) ? WHITE : INK;
  const link = contrast(primary, WHITE) >= 4.5 ? primary : INK;
  const focus = contrast(primary, WHITE) >= 3 ? primary : INK;
  return `:root { --primary: ${primary}; --primary-text: ${onPrimary}; --link: ${link}; --focus: ${focus}; }\n`;
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
        const file =
          themed &&
          (await stat(themed).then(
            () => true,
            () => false,
          ))
            ? themed
            : path.join(VIEWS_DIR, `${name}.ejs`);
        return ejs.compile(await readFile(file, 'utf8'), { filename: file, async: false });
      })();
      fn.catch(() => compiled.delete(name));
      compiled.set(name, fn);
    }
    return fn;
  }
  const strings = (ctx: Pick<Context, 'acceptsLanguages'>) => pickLocale(ctx);
  return {
    strings,
    themeCss: brandCss(options.brand.primaryColor),
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
