// The logger: pino, structured fields, secrets redacted wherever they might appear. JSON a line by
// default; human-readable through pino-pretty when asked or when stdout is a terminal. pino-pretty is
// loaded only then, so the JSON path never pays for it.
import { createRequire } from "node:module";
import { type DestinationStream, type Logger, pino } from "pino";
import type PinoPretty from "pino-pretty";

export const REDACTED_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "api_key",
  "*.api_key",
  "headers.authorization",
  'headers["x-api-key"]',
];

export type LogFormat = "json" | "pretty" | "auto";

/** `auto` is pretty only when the output is a terminal (a person is reading it). */
export function resolveLogFormat(
  format: LogFormat,
  destination: NodeJS.WritableStream = process.stdout,
): "json" | "pretty" {
  if (format !== "auto") return format;
  return (destination as { isTTY?: boolean }).isTTY === true ? "pretty" : "json";
}

export function createLogger(
  level: string,
  destination?: NodeJS.WritableStream,
  format: LogFormat = "json",
): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    base: { name: "docker-mqtt-bridge" },
  };
  if (resolveLogFormat(format, destination) === "pretty") {
    const pretty = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
    const stream = pretty({
      destination: destination ?? 1,
      // Synchronous, so the lines written just before process.exit() are not lost.
      sync: true,
      colorize: destination === undefined ? pretty.isColorSupported : false,
      ignore: "pid,hostname,name",
      translateTime: "SYS:HH:MM:ss.l",
    });
    return pino(options, stream as DestinationStream);
  }
  return destination ? pino(options, destination as never) : pino(options);
}
