import { en, type Strings } from './en.ts';
import { fr } from './fr.ts';

export type { Strings };
export const LOCALES: Record<string, Strings> = { en, fr };

/** Picks the best of our languages for an Accept-Language header (RFC 9110 §12.5.4); English by default. */
export function pickLocale(acceptLanguage: string | undefined): Strings {
  const ranked = (acceptLanguage ?? '').slice(0, 500).split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { base: tag.trim().toLowerCase().split('-')[0] ?? '', q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((entry) => entry.base && Number.isFinite(entry.q) && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const entry of ranked) {
    const strings = LOCALES[entry.base];
    if (strings) return strings;
  }
  return en;
}
