/**
 * The mails Latchkey sends, each with the fields its caller supplies: the one typed map the flows
 * code against (`outbox.enqueue({ template: 'password_reset', data: { ... } })` is checked here).
 *
 * Links are given as paths on the issuer (`/reset-password?token=…`, starting with `/`): the
 * renderer puts the issuer in front, so every link in a mail is absolute on the issuer (also when
 * the issuer has a path of its own) and no caller can point a mail elsewhere.
 *
 * `name` is the account's name as stored; the mail prints it only in the greeting, cut to 60
 * characters, escaped in HTML. Dates are ISO 8601 strings (the data is JSON at rest).
 */
export interface MailTemplates {
  /** Forgot password: the one-time link to set a new password. */
  password_reset: { name: string; resetPath: string; expiresInMinutes: number };
  /** After any password change; `helpPath` is where to go when it was not them (forgot password). */
  password_changed: { name: string; changedAt: string; helpPath: string };
  /** Confirm an address: sent on sign-up and on "send again" (an email change has confirm_email_change). */
  verify_email: { name: string; verifyPath: string; expiresInHours: number };
  /** Someone tried to sign up with an address that has an account: tell its owner instead of the form telling the visitor. */
  signup_existing_account: { name: string; signInPath: string; resetPath: string };
  /** An operator invited the person: the link sets a first password (and verifies the address). */
  invitation: { name: string; acceptPath: string; expiresInDays: number; invitedBy?: string | undefined };
  /** To the NEW address when the person asks to change their email: the link applies the change. */
  confirm_email_change: { name: string; confirmPath: string; expiresInHours: number };
  /** To the OLD address after the email of the account changed. */
  email_changed: { name: string; newEmail: string; changedAt: string; helpPath: string };
  /** A recovery code was used to sign in (mfa/); `remaining` unused codes are left. */
  recovery_code_used: { name: string; usedAt: string; remaining: number; helpPath: string };
  /** An operator removed every second factor of the account (`users reset-mfa`). */
  mfa_reset: { name: string; resetAt: string; accountPath: string };
}
export type MailTemplateName = keyof MailTemplates;
export const MAIL_TEMPLATES = [
  'password_reset',
  'password_changed',
  'verify_email',
  'signup_existing_account',
  'invitation',
  'confirm_email_change',
  'email_changed',
  'recovery_code_used',
  'mfa_reset',
] as const satisfies readonly MailTemplateName[];

export type MailLocale = 'en' | 'fr';
export const MAIL_LOCALES: readonly MailLocale[] = ['en', 'fr'];

/** One of our mail languages for a page language or a language tag (`fr-CA` -> fr); English otherwise. */
export function mailLocale(lang: string | undefined): MailLocale {
  const base = (lang ?? '').toLowerCase().split('-')[0];
  return base === 'fr' ? 'fr' : 'en';
}

export function isMailTemplate(name: string): name is MailTemplateName {
  return (MAIL_TEMPLATES as readonly string[]).includes(name);
}

/** A mail's words in one language; the layouts (views/mail/) turn it into the text and HTML parts. */
export interface MailContent {
  subject: string;
  greeting: string;
  paragraphs: string[];
  /** The one thing to do: a button in HTML, a labelled link in text. */
  action?: { label: string; path: string };
  /** Further links, after the action. */
  links?: Array<{ label: string; path: string }>;
  /** After the action: why they got it, what to do if it was not them. */
  notes: string[];
}

type Writers = {
  [T in MailTemplateName]: (data: MailTemplates[T], brand: string, when: (iso: string) => string) => MailContent;
};

const en: Writers = {
  password_reset: (d, brand) => ({
    subject: `Reset your ${brand} password`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `Someone asked to reset the password of your ${brand} account. If it was you, choose a new password with this link. It works once, for ${d.expiresInMinutes} minutes.`,
    ],
    action: { label: 'Choose a new password', path: d.resetPath },
    notes: ['If you did not ask for this, ignore this mail: your password stays as it is.'],
  }),
  password_changed: (d, brand, when) => ({
    subject: `Your ${brand} password was changed`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `The password of your ${brand} account was changed on ${when(d.changedAt)}. You were signed out everywhere.`,
    ],
    action: { label: 'It was not me: reset my password', path: d.helpPath },
    notes: ['If it was you, there is nothing to do.'],
  }),
  verify_email: (d, brand) => ({
    subject: `Confirm your email address for ${brand}`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `Confirm that this address is yours to finish setting up your ${brand} account. The link works for ${d.expiresInHours} hours.`,
    ],
    action: { label: 'Confirm my email address', path: d.verifyPath },
    notes: [`If you did not create or change a ${brand} account, ignore this mail.`],
  }),
  signup_existing_account: (d, brand) => ({
    subject: `You already have a ${brand} account`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `Someone tried to create a ${brand} account with this address, which already has one. No new account was created.`,
      'If it was you, sign in instead, or reset your password if you forgot it.',
    ],
    action: { label: 'Sign in', path: d.signInPath },
    links: [{ label: 'Forgot your password? Reset it', path: d.resetPath }],
    notes: ['If it was not you, ignore this mail: nothing changed.'],
  }),
  invitation: (d, brand) => ({
    subject: `You are invited to ${brand}`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `${d.invitedBy ? `${d.invitedBy} invited you` : 'You are invited'} to ${brand}. Choose a password to start using your account. The link works once, for ${d.expiresInDays} days.`,
    ],
    action: { label: 'Choose my password', path: d.acceptPath },
    notes: ['If you did not expect this invitation, ignore this mail.'],
  }),
  confirm_email_change: (d, brand) => ({
    subject: `Confirm your new email address for ${brand}`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `You asked to use this address for your ${brand} account. Confirm it with this link: the address of your account changes only then. The link works once, for ${d.expiresInHours} hours.`,
    ],
    action: { label: 'Use this address', path: d.confirmPath },
    notes: ['If you did not ask for this, ignore this mail: nothing changes.'],
  }),
  email_changed: (d, brand, when) => ({
    subject: `The email address of your ${brand} account was changed`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `On ${when(d.changedAt)}, the email address of your ${brand} account was changed to ${d.newEmail}. Mail for this account now goes there.`,
    ],
    action: { label: 'It was not me: recover my account', path: d.helpPath },
    notes: ['If it was you, there is nothing to do.'],
  }),
  recovery_code_used: (d, brand, when) => ({
    subject: `A recovery code was used for your ${brand} account`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `On ${when(d.usedAt)}, someone signed in to your ${brand} account with your password and one of your recovery codes. ${d.remaining} unused codes are left.`,
      'If your authenticator app is lost, set up a new one and make new recovery codes on your account page.',
    ],
    action: { label: 'Go to my account', path: d.helpPath },
    notes: ['If it was not you, change your password and make new recovery codes now.'],
  }),
  mfa_reset: (d, brand, when) => ({
    subject: `The two-step verification of your ${brand} account was reset`,
    greeting: `Hello ${d.name},`,
    paragraphs: [
      `On ${when(d.resetAt)}, an administrator removed the authenticator apps, passkeys and recovery codes of your ${brand} account. You sign in with your password alone until you set up a new one.`,
    ],
    action: { label: 'Set up two-step verification', path: d.accountPath },
    notes: ['If you did not ask for this, contact your administrator.'],
  }),
};

const fr: Writers = {
  password_reset: (d, brand) => ({
    subject: `Réinitialisez votre mot de passe ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Quelqu’un a demandé à réinitialiser le mot de passe de votre compte ${brand}. Si c’était vous, choisissez un nouveau mot de passe avec ce lien. Il ne sert qu’une fois, pendant ${d.expiresInMinutes} minutes.`,
    ],
    action: { label: 'Choisir un nouveau mot de passe', path: d.resetPath },
    notes: ['Si vous n’avez rien demandé, ignorez ce message : votre mot de passe ne change pas.'],
  }),
  password_changed: (d, brand, when) => ({
    subject: `Votre mot de passe ${brand} a été modifié`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Le mot de passe de votre compte ${brand} a été modifié le ${when(d.changedAt)}. Vous avez été déconnecté partout.`,
    ],
    action: { label: 'Ce n’était pas moi : réinitialiser mon mot de passe', path: d.helpPath },
    notes: ['Si c’était vous, vous n’avez rien à faire.'],
  }),
  verify_email: (d, brand) => ({
    subject: `Confirmez votre adresse e-mail pour ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Confirmez que cette adresse est la vôtre pour terminer la configuration de votre compte ${brand}. Le lien est valable ${d.expiresInHours} heures.`,
    ],
    action: { label: 'Confirmer mon adresse e-mail', path: d.verifyPath },
    notes: [`Si vous n’avez ni créé ni modifié de compte ${brand}, ignorez ce message.`],
  }),
  signup_existing_account: (d, brand) => ({
    subject: `Vous avez déjà un compte ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Quelqu’un a essayé de créer un compte ${brand} avec cette adresse, qui en a déjà un. Aucun compte n’a été créé.`,
      'Si c’était vous, connectez-vous plutôt, ou réinitialisez votre mot de passe si vous l’avez oublié.',
    ],
    action: { label: 'Se connecter', path: d.signInPath },
    links: [{ label: 'Mot de passe oublié ? Le réinitialiser', path: d.resetPath }],
    notes: ['Si ce n’était pas vous, ignorez ce message : rien n’a changé.'],
  }),
  invitation: (d, brand) => ({
    subject: `Vous êtes invité sur ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `${d.invitedBy ? `${d.invitedBy} vous invite` : 'Vous êtes invité'} sur ${brand}. Choisissez un mot de passe pour commencer à utiliser votre compte. Le lien ne sert qu’une fois, pendant ${d.expiresInDays} jours.`,
    ],
    action: { label: 'Choisir mon mot de passe', path: d.acceptPath },
    notes: ['Si vous n’attendiez pas cette invitation, ignorez ce message.'],
  }),
  confirm_email_change: (d, brand) => ({
    subject: `Confirmez votre nouvelle adresse e-mail pour ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Vous avez demandé à utiliser cette adresse pour votre compte ${brand}. Confirmez-la avec ce lien : l’adresse de votre compte ne change qu’à ce moment-là. Le lien ne sert qu’une fois, pendant ${d.expiresInHours} heures.`,
    ],
    action: { label: 'Utiliser cette adresse', path: d.confirmPath },
    notes: ['Si vous n’avez rien demandé, ignorez ce message : rien ne change.'],
  }),
  email_changed: (d, brand, when) => ({
    subject: `L’adresse e-mail de votre compte ${brand} a été modifiée`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Le ${when(d.changedAt)}, l’adresse e-mail de votre compte ${brand} a été remplacée par ${d.newEmail}. Les messages de ce compte y sont désormais envoyés.`,
    ],
    action: { label: 'Ce n’était pas moi : récupérer mon compte', path: d.helpPath },
    notes: ['Si c’était vous, vous n’avez rien à faire.'],
  }),
  recovery_code_used: (d, brand, when) => ({
    subject: `Un code de secours a été utilisé pour votre compte ${brand}`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Le ${when(d.usedAt)}, quelqu’un s’est connecté à votre compte ${brand} avec votre mot de passe et l’un de vos codes de secours. Il reste ${d.remaining} codes inutilisés.`,
      'Si vous avez perdu votre application d’authentification, configurez-en une nouvelle et créez de nouveaux codes de secours sur la page de votre compte.',
    ],
    action: { label: 'Aller à mon compte', path: d.helpPath },
    notes: ['Si ce n’était pas vous, changez votre mot de passe et créez de nouveaux codes de secours dès maintenant.'],
  }),
  mfa_reset: (d, brand, when) => ({
    subject: `La validation en deux étapes de votre compte ${brand} a été réinitialisée`,
    greeting: `Bonjour ${d.name},`,
    paragraphs: [
      `Le ${when(d.resetAt)}, un administrateur a supprimé les applications d’authentification, les clés d’accès et les codes de secours de votre compte ${brand}. Vous vous connectez avec votre seul mot de passe jusqu’à ce que vous en configuriez un nouveau.`,
    ],
    action: { label: 'Configurer la validation en deux étapes', path: d.accountPath },
    notes: ['Si vous n’avez rien demandé, contactez votre administrateur.'],
  }),
};

export const MAIL_WRITERS: Record<MailLocale, Writers> = { en, fr };
