import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';

/**
 * What passkeys.ts needs from @simplewebauthn/server and zod: the ceremonies and the shape of the
 * browser's answers. passkeys.ts loads this module on the first ceremony, not at start: the two
 * libraries are some 20 MiB of a worker's memory that a deployment whose people never register a
 * passkey would otherwise carry in every process.
 */
export {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';

// The browser's answers (PublicKeyCredential.toJSON, as @simplewebauthn/browser sends them). Lengths
// are generous upper bounds (a post-quantum signature is some 2.4 KB), there to refuse garbage early.
const b64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/);
const common = {
  id: b64url(1400).min(1),
  rawId: b64url(1400).min(1),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};
const AssertionSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(8192).min(1),
    authenticatorData: b64url(8192).min(1),
    signature: b64url(8192).min(1),
    userHandle: b64url(512).optional(),
  }),
});
const AttestationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(8192).min(1),
    attestationObject: b64url(32768).min(1),
    authenticatorData: b64url(8192).optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(8192).optional(),
  }),
});

/** A sign-in's answer in the shape the library reads, or undefined when it is not one (or its two ids differ). */
export function parseAssertion(response: unknown): AuthenticationResponseJSON | undefined {
  const parsed = AssertionSchema.safeParse(response);
  return parsed.success && parsed.data.id === parsed.data.rawId
    ? (parsed.data as AuthenticationResponseJSON)
    : undefined;
}

/** A registration's answer in the shape the library reads, or undefined when it is not one. */
export function parseAttestation(response: unknown): RegistrationResponseJSON | undefined {
  const parsed = AttestationSchema.safeParse(response);
  return parsed.success && parsed.data.id === parsed.data.rawId ? (parsed.data as RegistrationResponseJSON) : undefined;
}
