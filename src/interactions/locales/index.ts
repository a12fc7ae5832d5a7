import type { Context } from 'koa';
import { en, type Strings } from './en.ts';
import { fr } from './fr.ts';

export type { Strings };

const LOCALES: Record<string, Strings> = { en, fr };
const TAGS = Object.keys(LOCALES);

/**
 * The best of our languages for the request's Accept-Language (RFC 9110 §12.5.4), negotiated by
 * Koa (q values, then the most specific match, then the header's order); English by default.
 */
export function pickLocale(ctx: Pick<Context, 'acceptsLanguages'>): Strings {
  const tag = ctx.acceptsLanguages(TAGS);
  return (tag && LOCALES[tag]) || en;
}
