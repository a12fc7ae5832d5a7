import http from 'node:http';
import { createApi } from './api.ts';

/**
 * Runs the example API: `npm run example:api`.
 * ISSUER (default http://localhost:3000), API_AUDIENCE (default http://localhost:4000),
 * PORT (default 4000), HOST (default 127.0.0.1).
 */
const issuer = process.env.ISSUER ?? 'http://localhost:3000';
const audience = process.env.API_AUDIENCE ?? 'http://localhost:4000';
const port = Number(process.env.PORT ?? 4000);
const host = process.env.HOST ?? '127.0.0.1';

const server = http.createServer(createApi({ issuer, audience }));
server.listen(port, host, () => {
  console.log(`KS Connect API on http://${host}:${port} (audience ${audience}, tokens from ${issuer})`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
