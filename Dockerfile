# Latchkey container image. `docker compose up --build` runs it with PostgreSQL (docker-compose.yml);
# alone it needs DATABASE_URL, LATCHKEY_SECRET_KEY and an https ISSUER (README, "Operations").

# src compiled to JavaScript (npm ci runs `prepare`, scripts/build.js): the server runs dist/, which
# idles 17 MiB smaller per process than TypeScript stripped at load (bin/serve.js).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund

# Production dependencies only (no TypeScript: `prepare` has nothing to compile here). tsx is a
# dependency for the CLI, which runs its TypeScript directly.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
# Production refuses an http ISSUER and a missing LATCHKEY_SECRET_KEY (see docker-compose.yml for a local try-out).
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Compiled in the build stage, after the sources were checked out: newer than every file in src/,
# which is what bin/serve.js asks before it runs dist/ (bin/compiled.js).
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY views ./views
COPY data ./data
# Used only without DATABASE_URL (embedded PostgreSQL) or LATCHKEY_SECRET_KEY (generated key).
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same command as `npm start`, without npm in between, so SIGTERM reaches the server.
CMD ["node", "bin/serve.js"]
