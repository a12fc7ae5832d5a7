/**
 * Which redirect URIs a client may register (RFC 9700 §2.1, RFC 8252 §7). Matching at /authorize
 * is exact (the engine's, plus any loopback port for native apps); this is the registration side.
 * Returns a message per violation, phrased for the CLI.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const LOOPBACK_IPS = new Set(['127.0.0.1', '[::1]']);
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:']);
const MAX_URI_LENGTH = 2000;

export function redirectUriProblem(
  uri: string,
  applicationType: 'web' | 'native',
  label = 'redirect URI',
): string | undefined {
  if (uri.length > MAX_URI_LENGTH) return `${label} is longer than ${MAX_URI_LENGTH} characters`;
  if (uri.includes('*')) return `${label} ${uri} must not contain wildcards`;
  if (uri.includes('#')) return `${label} ${uri} must not contain a fragment (#)`;
  const parsed = URL.parse(uri);
  if (!parsed) return `${label} ${uri} is not an absolute URI`;
  if (parsed.username || parsed.password) return `${label} ${uri} must not contain credentials`;
  const { protocol, hostname } = parsed;
  if (applicationType === 'web') {
    if (protocol === 'https:') return undefined;
    if (protocol === 'http:' && LOOPBACK_HOSTS.has(hostname)) return undefined;
    if (protocol === 'http:')
      return `${label} ${uri} must use https (http is allowed only for localhost, 127.0.0.1 and [::1])`;
    return `${label} ${uri} must be an https URL for a web application (use --application-type native for app schemes)`;
  }
  if (protocol === 'http:') {
    return LOOPBACK_IPS.has(hostname)
      ? undefined
      : `${label} ${uri} for a native app may use http only with a loopback IP (127.0.0.1 or [::1], any port)`;
  }
  if (protocol === 'https:') {
    return LOOPBACK_HOSTS.has(hostname)
      ? `${label} ${uri} for a native app must not be https on a loopback host`
      : undefined;
  }
  if (FORBIDDEN_SCHEMES.has(protocol)) return `${label} ${uri} must not use the ${protocol.slice(0, -1)} scheme`;
  // Private-use schemes should be reverse-DNS names (RFC 8252 §7.1), e.g. com.example.app:/callback.
  if (!protocol.slice(0, -1).includes('.')) {
    return `${label} ${uri} uses a private-use scheme that is not a reverse domain name (e.g. com.example.app:/callback)`;
  }
  return undefined;
}
