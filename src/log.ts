// The logger: pino, structured fields, secrets redacted wherever they might appear.
import { type Logger, pino } from "pino";

export const REDACTED_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "api_key",
  "*.api_key",
  "headers.authorization",
  'headers["x-api-key"]',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    base: { name: "docker-mqtt-bridge" },
  };
  return destination ? pino(options, destination as never) : pino(options);
}
