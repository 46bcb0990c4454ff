// Image references as the engine and the registries read them (the distribution/reference
// grammar): which registry, which repository, which tag or digest. Pure.

/** Docker Hub under every name users and engines give it. */
export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** Where Docker Hub's registry API actually answers. */
const DOCKER_HUB_API = "registry-1.docker.io";

export interface ImageReference {
  /** The registry as named (`docker.io` for Docker Hub, `registry:5000`, `ghcr.io`). */
  registry: string;
  /** The repository path, with `library/` for Docker Hub's official images. */
  repository: string;
  /** The tag; `latest` when neither tag nor digest is given. */
  tag: string | null;
  /** `sha256:...` when the reference pins a digest. */
  digest: string | null;
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/**
 * Whether the first path component names a registry: it holds a `.` or a `:` or is `localhost`
 * (the rule the engine uses; `library/nginx` and `org/app` are Docker Hub repositories).
 */
function isRegistryName(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

/** Parses `nginx`, `nginx:1.27`, `ghcr.io/org/app:latest`, `registry:5000/x/y`, `x:tag@sha256:...`. */
export function parseReference(text: string): ImageReference | undefined {
  let rest = text.trim();
  if (rest === "" || rest !== text) return undefined;
  // A container created from an image id names no repository at all.
  if (/^(sha256:)?[0-9a-f]{64}$/.test(rest)) return undefined;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isRegistryName(parts[0] ?? "")) {
    registry = (parts.shift() ?? "").toLowerCase();
    if (!/^[a-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:]+\](?::\d{1,5})?$/.test(registry))
      return undefined;
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) return undefined;
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    if (parts.length === 1) parts.unshift("library");
  }
  if (tag === null && digest === null) tag = "latest";
  return { registry, repository: parts.join("/"), tag, digest };
}

/** The host (and port) that answers the registry API for a registry name. */
export function registryHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The reference written out in full (`docker.io/library/nginx:1.27`). */
export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === null ? "" : `:${ref.tag}`;
  const digest = ref.digest === null ? "" : `@${ref.digest}`;
  return `${ref.registry}/${ref.repository}${tag}${digest}`;
}

/** Same registry and repository (what a `RepoDigests` entry is compared by). */
export function sameRepository(a: ImageReference, b: ImageReference): boolean {
  return a.registry === b.registry && a.repository === b.repository;
}

/**
 * The digest the local image was pulled by for this reference's repository, from its
 * `RepoDigests` (`nginx@sha256:...`, `127.0.0.1:5000/x@sha256:...`); undefined when it has none.
 */
export function localDigest(
  ref: ImageReference,
  repoDigests: readonly string[],
): string | undefined {
  for (const entry of repoDigests) {
    const parsed = parseReference(entry);
    if (parsed?.digest && sameRepository(parsed, ref)) return parsed.digest;
  }
  return undefined;
}

/** `sha256:0123456789ab` (the first 12 hex digits), as Docker shows image ids. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(":");
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}
