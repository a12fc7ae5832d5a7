import type { Context } from 'koa';

/**
 * Reads an application/x-www-form-urlencoded body of at most `maxBytes`: 415 for another type,
 * 413 for a larger body (refused on its declared length before reading, or once it grows past).
 * The fields come back in order, duplicates included: each caller decides what a duplicate means.
 */
export async function readFormBody(ctx: Context, maxBytes: number): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) ctx.throw(415, 'expected a form submission');
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBytes) ctx.throw(413, 'form too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) ctx.throw(413, 'form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
