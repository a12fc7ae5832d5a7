import type { Accounts } from '../accounts/accounts.ts';
import type { SelfService } from '../accounts/self-service.ts';
import type { AuditStore } from '../audit/store.ts';
import type { Clients } from '../clients/clients.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/open.ts';
import type { OutboxStore } from '../mail/outbox-store.ts';
import type { MailRenderer } from '../mail/render.ts';
import type { MailSender, MailSenderDeps } from '../mail/sender.ts';
import type { SecondFactors } from '../mfa/second-factors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApiResources } from '../oidc/api-resources.ts';
import type { KeyStore } from '../oidc/key-store.ts';
import type { PayloadStore } from '../oidc/payload-store.ts';
import type { SecretBox } from '../secret-box.ts';

/**
 * What CLI commands work with: the same stores and services the server builds (src/services.ts,
 * opened for the CLI by src/cli.ts), over the same database.
 */
export interface CliContext {
  config: Config;
  log: Logger;
  database: Database;
  /** Migrations this invocation applied on opening the database (every command migrates first). */
  migrated: string[];
  box: SecretBox;
  accounts: Accounts;
  /** Invitations (and the other flows by mail). */
  selfService: SelfService;
  clients: Clients;
  apis: ApiResources;
  keys: KeyStore;
  payloads: PayloadStore;
  audit: AuditStore;
  /** Second factors (users reset-mfa, users show). */
  secondFactors: SecondFactors;
  outbox: OutboxStore;
  /** Old mails, one-time links and passkey challenges (the janitor's work besides expired protocol rows). */
  sweepRetained(batch?: number): Promise<{ mails: number; links: number; challenges: number }>;
  mailRenderer: MailRenderer;
  /** A sender with the configured transport; undefined in production without SMTP_URL. */
  mailSender(log: Logger, extras?: Pick<MailSenderDeps, 'metrics' | 'audit' | 'retry'>): MailSender | undefined;
}
