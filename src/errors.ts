// One base error with a stable `code`, so callers and logs can tell failures apart without
// matching on messages (the undici model).

export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_FILE_UNREADABLE"
  | "DOCKER_UNREACHABLE"
  | "DOCKER_HTTP_ERROR"
  | "DOCKER_API_VERSION"
  | "DOCKER_STREAM_ENDED"
  | "DOCKER_STREAM_STALLED"
  | "DOCKER_BAD_RESPONSE"
  | "EVENT_INVALID"
  | "EVENTS_DROPPED"
  | "MQTT_CONNECT_FAILED"
  | "MQTT_PUBLISH_TIMEOUT"
  | "LISTEN_FAILED"
  | "REGISTRY_UNREACHABLE"
  | "REGISTRY_AUTH_FAILED"
  | "REGISTRY_RATE_LIMITED"
  | "REGISTRY_NOT_FOUND"
  | "REGISTRY_HTTP_ERROR"
  | "REGISTRY_BAD_RESPONSE"
  | "UPDATE_FAILED";

export class BridgeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ConfigError extends BridgeError {
  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(options?.code ?? "CONFIG_INVALID", message, options);
  }
}

export class DockerError extends BridgeError {
  /** HTTP status when the engine answered, undefined when it could not be reached. */
  readonly status: number | undefined;
  /** The engine's own `message` when it answered an error: shown to users as it is. */
  readonly engineMessage: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number; engineMessage?: string },
  ) {
    super(code, message, options);
    this.status = options?.status;
    this.engineMessage = options?.engineMessage;
  }
}

export class MqttError extends BridgeError {}

/** A short, log-safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** The first system error code (ENOENT, EACCES...) in an error's cause chain. */
export function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
