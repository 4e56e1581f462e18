# The Bulk Action Platform, for docker-compose.yml (distributed mode). Not buildable on the CI
# machine (no Docker engine there); see docs/deploying.md.
FROM node:20-bookworm
WORKDIR /app
COPY package.json package-lock.json ./
# better-sqlite3 builds from source when no prebuilt binary fits; bookworm has python3, make and g++.
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
COPY scripts ./scripts
COPY tsconfig.json ./
ENV NODE_ENV=production
EXPOSE 3000
# ROLE (api | worker | all) picks what this container runs.
CMD ["node", "--import", "tsx", "src/server.ts"]
