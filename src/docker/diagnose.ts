// What an engine failure means to a person, and the likely fix: the same words in `--check` and in
// the running bridge's log, written once.
import { DockerError, describeError, systemCode } from "../errors.js";

export interface Diagnosis {
  /** Stable per cause (ENOENT, EACCES, HTTP 403...), to tell a repeat from a new problem. */
  kind: string;
  /** The cause and the likely fix, for a person. */
  text: string;
}

/**
 * `where` as DockerClient.describe() gives it: `unix:///path` or an origin; `hostKey` is the setting
 * that names this engine's host (DOCKER_HOST, an entry of `engines`, portainer.url).
 */
export function diagnoseEngine(err: unknown, where: string, hostKey = "DOCKER_HOST"): Diagnosis {
  const code = systemCode(err);
  const socket = where.startsWith("unix://") ? where.slice("unix://".length) : where;
  if (code === "ENOENT") {
    return {
      kind: code,
      text: `no socket at ${socket}: is the Docker Engine running, and is the socket mounted here (-v /var/run/docker.sock:/var/run/docker.sock:ro)?`,
    };
  }
  if (code === "EACCES" || code === "EPERM") {
    return {
      kind: "EACCES",
      text: `permission denied on ${socket}: run with the socket's group (group_add: the GID from \`stat -c %g ${socket}\`) or go through a read-only socket proxy`,
    };
  }
  if (code === "ECONNREFUSED") {
    return {
      kind: code,
      text: `connection refused at ${where}: is the engine (or the socket proxy) listening there?`,
    };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return { kind: "ENOTFOUND", text: `cannot resolve the host of ${where}: check ${hostKey}` };
  }
  if (err instanceof DockerError && err.status === 403) {
    return {
      kind: "HTTP 403",
      text: `${where} refused a request (403): ${err.message}. A socket proxy must allow CONTAINERS, EVENTS, INFO, VERSION and PING`,
    };
  }
  const kind =
    code ??
    (err instanceof DockerError
      ? `${err.code}${err.status ? ` ${err.status}` : ""}`
      : describeError(err));
  return { kind, text: describeError(err) };
}

/** The text alone, as `--check` prints it. */
export function engineProblem(err: unknown, where: string, hostKey?: string): string {
  return diagnoseEngine(err, where, hostKey).text;
}
