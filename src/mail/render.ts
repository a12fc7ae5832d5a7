import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { Config } from '../config.ts';
import {
  isMailTemplate,
  MAIL_WRITERS,
  type MailContent,
  type MailTemplateName,
  type MailTemplates,
  mailLocale,
} from './templates.ts';

const MAIL_VIEWS_DIR = fileURLToPath(new URL('../../views/mail/', import.meta.url));
/** A name longer than this is cut in the greeting: it is free text, and the mail is ours. */
const NAME_IN_MAIL = 60;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
  /** The absolute links of the mail, in order (the development log prints them). */
  links: string[];
}

export interface MailRenderer {
  render<T extends MailTemplateName>(template: T, locale: string, data: MailTemplates[T]): RenderedMail;
  /** For rows read back from the outbox, whose template and data are only known at run time. */
  renderStored(template: string, locale: string, data: unknown): RenderedMail;
}

/** WCAG relative luminance of #rrggbb, to pick button text that reads on the brand colour. */
function luminance(hex: string): number {
  const [r = 0, g = 0, b = 0] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const INK = '#1b1f2a';
const contrastWithWhite = (hex: string) => 1.05 / (luminance(hex) + 0.05);
const contrastWithInk = (hex: string) => (luminance(hex) + 0.05) / (luminance(INK) + 0.05);

/**
 * Renders mails: the words of the template in the mail's language (templates.ts) inside the
 * layouts views/mail/layout.text.ejs and layout.html.ejs, which a THEME_DIR may replace
 * (`<THEME_DIR>/mail/layout.html.ejs`). Compiled once, at creation, so a broken theme fails the
 * start, not a delivery.
 */
export function createMailRenderer(options: {
  issuer: string;
  brand: Config['brand'];
  themeDir?: string | undefined;
}): MailRenderer {
  const compile = (file: string, html: boolean) => {
    const themed = options.themeDir ? path.join(options.themeDir, 'mail', file) : undefined;
    const chosen =
      themed && statSync(themed, { throwIfNoEntry: false })?.isFile() ? themed : path.join(MAIL_VIEWS_DIR, file);
    return ejs.compile(readFileSync(chosen, 'utf8'), {
      filename: chosen,
      async: false,
      ...(html ? {} : { escape: (value: unknown) => String(value) }),
    });
  };
  const textLayout = compile('layout.text.ejs', false);
  const htmlLayout = compile('layout.html.ejs', true);
  const primary = options.brand.primaryColor;
  const colours = {
    primary,
    onPrimary: contrastWithWhite(primary) >= contrastWithInk(primary) ? '#ffffff' : INK,
    link: contrastWithWhite(primary) >= 4.5 ? primary : INK,
    ink: INK,
  };
  const absolute = (linkPath: string) => {
    if (typeof linkPath !== 'string' || !linkPath.startsWith('/'))
      throw new Error('a mail link must be a path on the issuer, starting with /');
    return new URL(`${options.issuer}${linkPath}`).href;
  };

  function renderStored(template: string, locale: string, data: unknown): RenderedMail {
    if (!isMailTemplate(template)) throw new Error(`unknown mail template ${JSON.stringify(template)}`);
    if (!data || typeof data !== 'object') throw new Error(`mail data for ${template} is not an object`);
    const lang = mailLocale(locale);
    const name = String((data as { name?: unknown }).name ?? '').slice(0, NAME_IN_MAIL);
    const when = (iso: string) =>
      `${new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(iso))} UTC`;
    const writer = MAIL_WRITERS[lang][template] as (d: unknown, brand: string, w: typeof when) => MailContent;
    const content = writer({ ...data, name }, options.brand.name, when);
    const action = content.action && { label: content.action.label, url: absolute(content.action.path) };
    const links = (content.links ?? []).map((link) => ({ label: link.label, url: absolute(link.path) }));
    const locals = { ...content, action, links, lang, brand: options.brand, issuer: options.issuer, colours };
    return {
      subject: content.subject,
      text: textLayout(locals),
      html: htmlLayout(locals),
      links: [...(action ? [action.url] : []), ...links.map((link) => link.url)],
    };
  }
  return {
    render: (template, locale, data) => renderStored(template, locale, data),
    renderStored,
  };
}
