import http from 'node:http';
import { createWebClient } from './web-client.ts';

/**
 * Runs the example web app: `npm run example:web`.
 * CLIENT_ID, CLIENT_SECRET (from `latchkey clients create --type confidential`, required),
 * ISSUER (default http://localhost:3000), API_URL (default http://localhost:4000),
 * API_AUDIENCE (default API_URL), PORT (default 8080), HOST (default 127.0.0.1),
 * REDIRECT_URI (default http://localhost:$PORT/callback), POST_LOGOUT_REDIRECT_URI (default http://localhost:$PORT/).
 */
const { CLIENT_ID, CLIENT_SECRET } = process.env;
if (!CLIENT_ID || !CLIENT_SECRET) {
  console.error('example:web: set CLIENT_ID and CLIENT_SECRET (see README, "Walkthrough")');
  process.exit(1);
}
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const apiUrl = process.env.API_URL ?? 'http://localhost:4000';
const redirectUri = process.env.REDIRECT_URI ?? `http://localhost:${port}/callback`;

const server = http.createServer(
  createWebClient({
    issuer: process.env.ISSUER ?? 'http://localhost:3000',
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri,
    postLogoutRedirectUri: process.env.POST_LOGOUT_REDIRECT_URI,
    apiUrl,
    apiAudience: process.env.API_AUDIENCE ?? apiUrl,
  }),
);
server.listen(port, host, () => {
  console.log(`KS Connect web app on ${new URL(redirectUri).origin} (listening on ${host}:${port})`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
