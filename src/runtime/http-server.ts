// The operator's HTTP interface, off unless http.port is set: /healthz (the process answers),
// /readyz (broker and every engine connected, with detail) and /metrics (Prometheus text format).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { describeError } from "../errors.js";

export interface EngineReadiness {
  host: string;
  endpoint: string;
  connected: boolean;
  containers: number;
  /** Seconds since the engine's last event; null before the first one. */
  last_event_age_seconds: number | null;
}

export interface Readiness {
  ready: boolean;
  broker: { url: string; connected: boolean };
  engines: EngineReadiness[];
  /** Why not ready, in words; absent when ready. */
  reason?: string;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  registry: Registry;
  readiness: () => Readiness;
  log: Logger;
}

export interface HttpServer {
  /** `http://host:port` to reach it from here (127.0.0.1 when it listens on every interface). */
  readonly url: string;
  /** What it is bound to, as the kernel says: `0.0.0.0:9090`, `[::]:9090`, `127.0.0.1:9090`. */
  readonly listening: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    handle(options, req, res).catch((err: unknown) => {
      options.log.warn({ path: req.url, err: describeError(err) }, "HTTP request failed");
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
      else res.destroy();
    });
  });
  // A scraper or probe must never keep the process from stopping.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => {
    options.log.error({ err: describeError(err) }, "HTTP server error");
  });
  const { port, address, family } = server.address() as AddressInfo;
  const shownHost =
    options.host === "0.0.0.0" || options.host === "::"
      ? "127.0.0.1"
      : options.host.includes(":")
        ? `[${options.host}]`
        : options.host;
  return {
    url: `http://${shownHost}:${port}`,
    listening: family === "IPv6" ? `[${address}]:${port}` : `${address}:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function handle(
  options: HttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
    return;
  }
  switch (path) {
    case "/healthz":
      send(res, 200, "text/plain; charset=utf-8", "ok\n");
      return;
    case "/readyz": {
      const readiness = options.readiness();
      send(
        res,
        readiness.ready ? 200 : 503,
        "application/json",
        `${JSON.stringify(readiness, null, 2)}\n`,
      );
      return;
    }
    case "/metrics": {
      const text = await options.registry.metrics();
      send(res, 200, options.registry.contentType, text);
      return;
    }
    default:
      send(res, 404, "text/plain; charset=utf-8", "not found: try /healthz, /readyz, /metrics\n");
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
