// Which container the bridge itself runs in, so Install never recreates it (that would stop the
// process doing the recreate halfway). Read from the engine's bind mounts of /etc/hostname,
// /etc/hosts and /etc/resolv.conf (their source path holds the container id, for Docker and
// Podman alike), else from a hostname that is an id prefix, as the engine sets it by default.

const ENGINE_FILES = new Set(["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]);

/** The id (64 hex) or id prefix (12 hex) of our own container, from /proc/self/mountinfo text. */
export function selfContainerId(mountinfo: string, hostname: string): string | undefined {
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const root = fields[3] ?? "";
    const mountPoint = fields[4] ?? "";
    if (!ENGINE_FILES.has(mountPoint)) continue;
    const id = /(?:^|\/)([0-9a-f]{64})\//.exec(root)?.[1];
    if (id) return id;
  }
  return /^[0-9a-f]{12}$/.test(hostname) ? hostname : undefined;
}

/** A predicate telling our own container from others, by (prefix of) id. */
export function isSelfBy(selfId: string | undefined): (record: { id: string }) => boolean {
  return (record) => selfId !== undefined && record.id.startsWith(selfId);
}
