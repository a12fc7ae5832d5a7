import type { ApiResourceRow } from '../oidc/api-resource-store.ts';
import { defaultApiTokenTtl } from '../oidc/api-resources.ts';
import type { CliContext } from './context.ts';
import { CommandError, found, type Io, parse, print, required, UsageError, unknownCommand } from './output.ts';

export const APIS_HELP = `Usage: latchkey apis <command> [options]

An API (resource server, RFC 8707) is identified by a URI; access tokens requested for it with
resource=<identifier> are JWTs (RFC 9068) with that audience, verifiable offline with /jwks.

Commands:
  create --identifier URI --scope "read write" [--name N] [--ttl SECONDS] [--alg ES256|RS256]
            --ttl: lifetime of its access tokens, 60 to 86400 seconds (default: ACCESS_TOKEN_TTL,
            at most 900). APIs check them offline, so nothing ends one early: not revocation,
            not disabling the user. Keep it short.
  list
  show <identifier>
  delete <identifier>

Options:
  --json    Machine-readable output
`;

const API_OPTIONS = {
  identifier: { type: 'string' },
  scope: { type: 'string' },
  name: { type: 'string' },
  ttl: { type: 'string' },
  alg: { type: 'string' },
} as const;

/** An API as the CLI shows it: with the token lifetime that applies, also for an API stored without one. */
function apiView(ctx: CliContext, row: ApiResourceRow) {
  return { ...row, access_token_ttl: row.access_token_ttl ?? defaultApiTokenTtl(ctx.config.ttl.accessToken) };
}

export async function apisCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parse(rest, API_OPTIONS);
  const json = values.json;
  switch (command) {
    case 'create': {
      const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError('--ttl must be a number of seconds');
      const result = await ctx.apis.create({
        identifier: required(values.identifier, '--identifier'),
        name: values.name,
        scopes: (values.scope ?? '').split(/\s+/).filter(Boolean),
        accessTokenTtl: ttl,
        signingAlg: values.alg,
      });
      if (!result.ok) throw new CommandError(result.problems.join('; '));
      await ctx.audit.record({ event: 'api.created', details: { identifier: result.api.identifier } });
      print(io, json, apiView(ctx, result.api));
      return;
    }
    case 'list':
      print(
        io,
        json,
        (await ctx.apis.store.list()).map((row) => apiView(ctx, row)),
      );
      return;
    case 'show':
      print(
        io,
        json,
        apiView(
          ctx,
          found(await ctx.apis.store.findByIdentifier(required(positionals[0], 'identifier')), `API ${positionals[0]}`),
        ),
      );
      return;
    case 'delete': {
      const identifier = required(positionals[0], 'identifier');
      if (!(await ctx.apis.store.delete(identifier))) throw new CommandError(`no API ${identifier}`);
      await ctx.audit.record({ event: 'api.deleted', details: { identifier } });
      print(io, json, { deleted: identifier }, () => `deleted API ${identifier}`);
      return;
    }
    default:
      throw unknownCommand('apis', command);
  }
}
