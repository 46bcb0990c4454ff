// Where the engine is when nothing says so (DOCKER_HOST and docker.host unset): the usual sockets of
// rootful Docker, rootless Docker, rootful Podman and rootless Podman, in that order; the first
// that accepts a connection wins.
import { connect } from "node:net";

/** The sockets tried, in order, for the environment given (XDG_RUNTIME_DIR: the rootless ones). */
export function candidateSockets(env: NodeJS.ProcessEnv): string[] {
  const runtimeDir = env.XDG_RUNTIME_DIR?.replace(/\/+$/, "") ?? "";
  const list = ["/var/run/docker.sock"];
  if (runtimeDir !== "") list.push(`${runtimeDir}/docker.sock`);
  list.push("/run/podman/podman.sock");
  if (runtimeDir !== "") list.push(`${runtimeDir}/podman/podman.sock`);
  return list;
}

/**
 * Whether something listens on the unix socket at `path` (a stale socket file refuses). A socket
 * the bridge may not use (permission denied) counts as the engine's: the run then says why.
 */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "EACCES" || err.code === "EPERM"),
    );
  });
}

export interface DiscoveredHost {
  /** `unix://<path>`: the first that answered, or the first tried when none did. */
  host: string;
  /** Every socket tried, in order, up to the one that answered. */
  tried: string[];
  found: boolean;
}

/**
 * Tries the candidates in order and returns the first that answers. When none does, the first
 * candidate, so the bridge waits for the usual socket as it would with the default address.
 */
export async function discoverDockerHost(options: {
  env: NodeJS.ProcessEnv;
  probe?: (path: string) => Promise<boolean>;
}): Promise<DiscoveredHost> {
  const probe = options.probe ?? ((path: string) => socketAnswers(path));
  const candidates = candidateSockets(options.env);
  const tried: string[] = [];
  for (const path of candidates) {
    tried.push(path);
    if (await probe(path)) return { host: `unix://${path}`, tried, found: true };
  }
  return { host: `unix://${candidates[0]}`, tried, found: false };
}
