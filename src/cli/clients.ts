import { readFile } from 'node:fs/promises';
import { type ClientInput, normaliseGrantType } from '../clients/clients.ts';
import type { ClientRow } from '../clients/store.ts';
import { createAdapterFactory } from '../oidc/adapter.ts';
import { issueInitialAccessToken } from '../oidc/registration.ts';
import type { CliContext } from './context.ts';
import { CommandError, found, type Io, parse, print, required, table, UsageError, unknownCommand } from './output.ts';

export const CLIENTS_HELP = `Usage: latchkey clients <command> [options]

Commands:
  create      Register an application; prints its client_id (and client_secret, shown once)
  list        List applications
  show <id>   Show one application
  update <id> Change an application (same options as create; given lists replace the old ones)
  delete <id> Delete an application
  rotate-secret <id>  Issue a new client secret (shown once); the old one stops working
  initial-access-token [--ttl SECONDS] [--scope "S ..."] [--grant client_credentials]
              Issue a token that lets an app register itself at /register (RFC 7591; needs
              REGISTRATION_ENABLED=true); valid for --ttl seconds (default 86400), shown once.
              Apps it registers get no API scope but those of --scope (scopes of registered
              APIs) and may use client_credentials only with --grant client_credentials

New ids never start with "-"; an older id that does goes after "--": latchkey clients show -- -sXYZ

Options for create and update:
  --name N                      Display name shown on the consent page
  --type confidential|public    confidential: a backend with a secret; public: SPA or native app (PKCE)
  --application-type web|native web (default) or native (mobile/desktop: loopback and app-scheme redirects)
  --redirect-uri U              Allowed redirect URI, exact match (repeatable)
  --post-logout-redirect-uri U  Allowed post-logout redirect URI (repeatable)
  --grant G                     authorization_code, refresh_token, client_credentials, device_code (repeatable;
                                default authorization_code + refresh_token)
  --scope "S ..."               Scopes the app may request, OpenID and API scopes (default: any; a list
                                without API scopes allows none of them)
  --first-party                 Your own app: approval implied, no consent page
  --auth-method M               Require one token endpoint auth method: client_secret_basic, client_secret_post,
                                private_key_jwt (default: basic or post)
  --jwks JSON|@file             Public keys for private_key_jwt (inline JSON or a file path)
  --jwks-uri U                  URL of the client's public keys for private_key_jwt
  --backchannel-logout-uri U    Receives logout tokens when the user signs out
  --backchannel-logout-session  Put sid in ID tokens and logout tokens (backchannel_logout_session_required)
  --require-par                 Only accept authorization requests pushed to /par
  --require-pkce                Require PKCE (S256) on every authorization request: the default for new
                                clients; public clients always require it
  --allow-no-pkce               Let a confidential client leave PKCE out (only for a relying party that cannot
                                send it; clients created before PKCE became the default keep this)
  --require-verified-email      Sign-in for this app stops at a "verify your email" page (with a resend
                                button) until the account's address is verified
  --no-require-verified-email   Stop requiring it (update)
  --require-mfa                 Sign-in for this app needs a second factor; a person without one sets up
                                an authenticator app during sign-in, before the app gets a code
  --no-require-mfa              Stop requiring it (update)
  --json                        Machine-readable output
`;

const CLIENT_OPTIONS = {
  name: { type: 'string' },
  type: { type: 'string' },
  'application-type': { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  grant: { type: 'string', multiple: true },
  scope: { type: 'string' },
  'first-party': { type: 'boolean' },
  'auth-method': { type: 'string' },
  jwks: { type: 'string' },
  'jwks-uri': { type: 'string' },
  'backchannel-logout-uri': { type: 'string' },
  'backchannel-logout-session': { type: 'boolean' },
  'require-par': { type: 'boolean' },
  'require-pkce': { type: 'boolean' },
  'allow-no-pkce': { type: 'boolean' },
  'require-verified-email': { type: 'boolean' },
  'no-require-verified-email': { type: 'boolean' },
  'require-mfa': { type: 'boolean' },
  'no-require-mfa': { type: 'boolean' },
  ttl: { type: 'string' },
} as const;

function clientView(row: ClientRow) {
  return {
    client_id: row.client_id,
    name: row.name,
    type: row.type,
    application_type: row.application_type,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    grant_types: row.grant_types,
    scope: row.scope || null,
    first_party: row.first_party,
    require_pkce: row.type === 'public' || row.require_pkce,
    require_verified_email: row.require_verified_email,
    require_mfa: row.require_mfa,
    created_at: row.created_at,
  };
}

function applicationType(value: string | undefined): 'web' | 'native' | undefined {
  if (value === undefined || value === 'web' || value === 'native') return value;
  throw new UsageError('--application-type must be web or native');
}

/** --jwks: inline JSON or @file; whether it is a JWK Set is the service's to say. */
async function readJwks(value: string): Promise<unknown> {
  const text = value.startsWith('{')
    ? value
    : await readFile(value.replace(/^@/, ''), 'utf8').catch((err: Error) => {
        throw new CommandError(`cannot read --jwks file: ${err.message}`);
      });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CommandError(`--jwks is not a JWK Set: ${(err as Error).message}`);
  }
}

async function extraMetadata(values: {
  jwks?: string | undefined;
  'jwks-uri'?: string | undefined;
  'backchannel-logout-uri'?: string | undefined;
  'backchannel-logout-session'?: boolean | undefined;
  'require-par'?: boolean | undefined;
}) {
  const extra: Record<string, unknown> = {};
  if (values.jwks) extra.jwks = await readJwks(values.jwks);
  if (values['jwks-uri']) extra.jwks_uri = values['jwks-uri'];
  if (values['backchannel-logout-uri']) extra.backchannel_logout_uri = values['backchannel-logout-uri'];
  if (values['backchannel-logout-session'] !== undefined)
    extra.backchannel_logout_session_required = values['backchannel-logout-session'];
  if (values['require-par'] !== undefined) extra.require_pushed_authorization_requests = values['require-par'];
  return extra;
}

function requirePkce(values: {
  'require-pkce'?: boolean | undefined;
  'allow-no-pkce'?: boolean | undefined;
}): boolean | undefined {
  if (values['require-pkce'] && values['allow-no-pkce'])
    throw new UsageError('--require-pkce and --allow-no-pkce exclude each other');
  return values['allow-no-pkce'] ? false : values['require-pkce'];
}

async function findOrFail(ctx: CliContext, id: string | undefined): Promise<ClientRow> {
  return found(await ctx.clients.store.findById(required(id, 'client id')), `client ${id}`);
}

export async function clientsCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parse(rest, CLIENT_OPTIONS);
  const json = values.json;
  switch (command) {
    case 'create': {
      const type = required(values.type, '--type');
      if (type !== 'confidential' && type !== 'public') throw new UsageError('--type must be confidential or public');
      const input: ClientInput = {
        name: required(values.name, '--name'),
        type,
        applicationType: applicationType(values['application-type']),
        redirectUris: values['redirect-uri'] ?? [],
        postLogoutRedirectUris: values['post-logout-redirect-uri'],
        grantTypes: values.grant,
        scope: values.scope,
        firstParty: values['first-party'],
        tokenEndpointAuthMethod: values['auth-method'],
        requirePkce: requirePkce(values),
        requireVerifiedEmail: values['require-verified-email'],
        requireMfa: values['require-mfa'],
      };
      const result = await ctx.clients.create(input, await extraMetadata(values));
      if (!result.ok) throw new CommandError(result.problems.join('; '));
      await ctx.audit.record({ event: 'client.created', clientId: result.client.client_id, details: { type } });
      const out = {
        client_id: result.client.client_id,
        ...(result.clientSecret ? { client_secret: result.clientSecret } : {}),
      };
      print(io, json, out, () =>
        [
          `client_id      ${out.client_id}`,
          ...(out.client_secret
            ? [`client_secret  ${out.client_secret}`, '', 'Store the secret now: it is not shown again.']
            : []),
        ].join('\n'),
      );
      return;
    }
    case 'list': {
      const rows = await ctx.clients.store.list();
      print(io, json, rows.map(clientView), () =>
        rows.length === 0
          ? '(no clients)'
          : table(
              rows.map((row) => ({
                client_id: row.client_id,
                type: row.type,
                name: row.name,
                grants: row.grant_types,
                redirect_uris: row.redirect_uris,
              })),
            ),
      );
      return;
    }
    case 'show': {
      print(io, json, clientView(await findOrFail(ctx, positionals[0])));
      return;
    }
    case 'update': {
      if (values.type !== undefined) throw new UsageError('--type cannot change: register a new client instead');
      const current = await findOrFail(ctx, positionals[0]);
      const extra = await extraMetadata(values);
      const result = await ctx.clients.update(
        current.client_id,
        {
          name: values.name,
          applicationType: applicationType(values['application-type']),
          redirectUris: values['redirect-uri'],
          postLogoutRedirectUris: values['post-logout-redirect-uri'],
          grantTypes: values.grant,
          scope: values.scope,
          firstParty: values['first-party'],
          tokenEndpointAuthMethod: values['auth-method'],
          requirePkce: requirePkce(values),
          requireVerifiedEmail: values['require-verified-email']
            ? true
            : values['no-require-verified-email']
              ? false
              : undefined,
          requireMfa: values['require-mfa'] ? true : values['no-require-mfa'] ? false : undefined,
        },
        extra,
      );
      const updated = found(result, `client ${current.client_id}`);
      if (!updated.ok) throw new CommandError(updated.problems.join('; '));
      await ctx.audit.record({ event: 'client.updated', clientId: current.client_id });
      print(io, json, clientView(updated.client));
      return;
    }
    case 'delete': {
      const row = await findOrFail(ctx, positionals[0]);
      await ctx.clients.store.delete(row.client_id);
      await ctx.audit.record({ event: 'client.deleted', clientId: row.client_id });
      print(io, json, { deleted: row.client_id }, () => `deleted client ${row.client_id}`);
      return;
    }
    case 'rotate-secret': {
      const row = await findOrFail(ctx, positionals[0]);
      const secret = await ctx.clients.rotateSecret(row.client_id);
      if (!secret)
        throw new CommandError(`client ${row.client_id} has no secret to rotate (public or private_key_jwt)`);
      await ctx.audit.record({ event: 'client.secret_rotated', clientId: row.client_id });
      print(
        io,
        json,
        { client_id: row.client_id, client_secret: secret },
        () =>
          `client_id      ${row.client_id}\nclient_secret  ${secret}\n\nStore the secret now: it is not shown again.`,
      );
      return;
    }
    case 'initial-access-token': {
      const adapter = createAdapterFactory({ payloads: ctx.payloads, clients: ctx.clients, box: ctx.box })(
        'InitialAccessToken',
      );
      const allowed = {
        apiScopes: (values.scope ?? '').split(/\s+/).filter(Boolean),
        grantTypes: (values.grant ?? []).map(normaliseGrantType),
      };
      const servedApiScopes = (await ctx.apis.store.list()).flatMap((api) => api.scopes);
      const issued = await issueInitialAccessToken(adapter, {
        ttlSeconds: values.ttl === undefined ? undefined : Number(values.ttl),
        allowed,
        servedApiScopes,
      });
      if (!issued.ok)
        throw issued.reason === 'invalid_ttl'
          ? new UsageError(issued.problems.join('; '))
          : new CommandError(issued.problems.join('; '));
      await ctx.audit.record({
        event: 'client.initial_access_token_issued',
        details: {
          expires_at: issued.expiresAt.toISOString(),
          api_scopes: allowed.apiScopes,
          grant_types: allowed.grantTypes,
        },
      });
      const out = { initial_access_token: issued.token, expires_at: issued.expiresAt.toISOString() };
      print(io, json, out, () =>
        [
          `initial_access_token  ${out.initial_access_token}`,
          `expires_at            ${out.expires_at}`,
          '',
          'Send it as "Authorization: Bearer <token>" to POST /register. Store it now: it is not shown again.',
          ...(ctx.config.registrationEnabled
            ? []
            : ['Registration is off on this configuration: set REGISTRATION_ENABLED=true on the server.']),
        ].join('\n'),
      );
      return;
    }
    default:
      throw unknownCommand('clients', command);
  }
}
