/**
 * Server-rendered HTML for the example web client. Every interpolated value is escaped unless it
 * is itself markup built by `html`, so claims and API responses cannot inject script.
 */
class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, part, i) => out + part + (i < values.length ? render(values[i]) : ''), ''));
}

export const STYLESHEET = `
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #1c1c28; }
h1 { font-size: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; word-break: break-all; }
pre { background: #f4f4f8; padding: 1rem; overflow: auto; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; margin: 1rem 0; }
.actions form { margin: 0; }
a.button, button { font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid #3346d3; background: #3346d3; color: #fff; text-decoration: none; cursor: pointer; }
button.secondary { background: #fff; color: #3346d3; }
.notice { background: #eef6ee; border: 1px solid #9c9; padding: .5rem .75rem; border-radius: 6px; }
.problem { background: #fbeeee; border: 1px solid #d99; padding: .5rem .75rem; border-radius: 6px; }
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · KS Connect</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<p><a href="/">KS Connect</a> · an example web app signed in with Latchkey</p>
${body}
</body>
</html>
`.value;
}

export function signedOutPage(notice?: string): string {
  return page(
    'Signed out',
    html`
<h1>You are signed out</h1>
${notice ? html`<p class="notice">${notice}</p>` : ''}
<p>This app signs you in with Latchkey (OpenID Connect, authorization code flow with PKCE) and
then calls the KS Connect API with the access token it receives.</p>
<div class="actions"><a class="button" href="/login">Sign in</a></div>
`,
  );
}

export interface SignedInView {
  claims: Record<string, unknown>;
  scope: string | undefined;
  accessTokenExpiresAt: Date | undefined;
  hasRefreshToken: boolean;
  notice: string | undefined;
}

export function signedInPage(view: SignedInView): string {
  const rows = Object.entries(view.claims).map(
    ([name, value]) =>
      html`<tr><th scope="row">${name}</th><td>${typeof value === 'string' ? value : JSON.stringify(value)}</td></tr>`,
  );
  return page(
    'Signed in',
    html`
<h1>Hello, ${String(view.claims.name ?? view.claims.email ?? view.claims.sub)}</h1>
${view.notice ? html`<p class="notice">${view.notice}</p>` : ''}
<div class="actions">
  <a class="button" href="/call-api">Call the API</a>
  ${view.hasRefreshToken ? html`<form method="post" action="/refresh"><button class="secondary" type="submit">Refresh tokens</button></form>` : ''}
  <form method="post" action="/logout"><button class="secondary" type="submit">Sign out</button></form>
</div>
<h2>ID token claims</h2>
<table id="claims">${rows}</table>
<h2>Access token</h2>
<p>Scope: <code id="scope">${view.scope ?? '(not returned)'}</code>.
Expires: <span id="expires">${view.accessTokenExpiresAt?.toISOString() ?? 'unknown'}</span>.
Refresh token: <span id="refresh">${view.hasRefreshToken ? 'yes' : 'no (sign in with offline_access and consent to get one)'}</span>.</p>
`,
  );
}

export function apiResultPage(result: { url: string; status: number; body: string }): string {
  let pretty = result.body;
  try {
    pretty = JSON.stringify(JSON.parse(result.body), null, 2);
  } catch {
    // Not JSON (a proxy's error page, say): show it as it came.
  }
  return page(
    'API response',
    html`
<h1>GET ${result.url}</h1>
<p>Status: <strong id="status">${result.status}</strong></p>
${result.status === 401 ? html`<p class="problem">The API refused the access token (expired or revoked?). Try <em>Refresh tokens</em> or sign in again.</p>` : ''}
<pre id="api-response">${pretty}</pre>
<div class="actions"><a class="button" href="/">Back</a></div>
`,
  );
}

export function problemPage(title: string, message: string): string {
  return page(
    title,
    html`
<h1>${title}</h1>
<p class="problem" id="problem">${message}</p>
<div class="actions"><a class="button" href="/">Home</a> <a href="/login">Sign in again</a></div>
`,
  );
}
