# syntax=docker/dockerfile:1
# docker-mqtt-bridge: build with the dev dependencies, run with the production ones only.
#
#   docker build -t docker-mqtt-bridge .
#   docker run -d --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro -e MQTT_URL=mqtt://broker:1883 docker-mqtt-bridge
#
# The bridge runs as the unprivileged user `node`. To read a mounted Docker socket it needs the
# socket's group id (`group_add` in Compose, `--group-add` with docker run); better, point
# DOCKER_HOST at a read-only socket proxy instead (see config/compose.yaml).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-alpine AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="docker-mqtt-bridge" \
      org.opencontainers.image.description="Mirrors Docker Engine containers and events into MQTT, with Home Assistant discovery" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-alpine"
ENV NODE_ENV=production \
    HTTP_PORT=9883
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY LICENSE ./
USER node
EXPOSE 9883
# No curl in alpine: Node asks /healthz itself. With HTTP_PORT=0 (no HTTP server) this check fails:
# disable it too (Compose: `healthcheck: { disable: true }`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||9883)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The bridge is the entry point, so `docker run IMAGE --check` (or --help) works as expected.
ENTRYPOINT ["node", "dist/main.js"]
CMD []
