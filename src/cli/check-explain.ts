// What --check says when something fails: the failure in a person's words, and the likely fix.
import { DockerError, describeError } from "../errors.js";
import { redactBroker } from "../mqtt/publisher.js";

/** "1 container", "4 containers". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
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

/** An engine that did not answer as the bridge needs; `where` is its address or its name. */
export function engineProblem(err: unknown, where: string, hostKey = "DOCKER_HOST"): string {
  const code = systemCode(err);
  const socket = where.startsWith("unix://") ? where.slice("unix://".length) : where;
  if (code === "ENOENT") {
    return `no socket at ${socket}: is the Docker Engine running, and is the socket mounted here (-v /var/run/docker.sock:/var/run/docker.sock:ro)?`;
  }
  if (code === "EACCES" || code === "EPERM") {
    return `permission denied on ${socket}: run with the socket's group (group_add: the GID from \`stat -c %g ${socket}\`) or go through a read-only socket proxy`;
  }
  if (code === "ECONNREFUSED") {
    return `connection refused at ${where}: is the engine (or the socket proxy) listening there?`;
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `cannot resolve the host of ${where}: check ${hostKey}`;
  }
  if (err instanceof DockerError && err.status === 403) {
    return `${where} refused a request (403): ${err.message}. A socket proxy must allow CONTAINERS, EVENTS, INFO, VERSION and PING`;
  }
  return describeError(err);
}

export function brokerProblem(err: unknown, url: string): string {
  const code = systemCode(err);
  const shown = redactBroker(url);
  if (code === "ECONNREFUSED") {
    return `connection refused at ${shown}: is the broker running and reachable from here?`;
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `cannot resolve the host of ${shown}: check MQTT_URL`;
  }
  const reason = (err as { code?: unknown } | undefined)?.code;
  if (typeof reason === "number") {
    const hint =
      reason === 4 || reason === 5 || reason === 134 || reason === 135
        ? ": check MQTT_USERNAME and MQTT_PASSWORD (or the broker's ACL)"
        : "";
    return `${shown} refused the connection (${(err as Error).message})${hint}`;
  }
  return `${shown}: ${describeError(err)}`;
}
