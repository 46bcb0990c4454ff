// The registry API's small print, pure: which manifests we accept, how a 401 says where to get a
// token, how a 429 says when to come back, and which registries are spoken to in plain HTTP.

/**
 * What a tag may point to: a multi-arch index (OCI) or list (Docker), or a single manifest.
 * Without the index types a registry would answer a multi-arch tag with one platform's manifest
 * (or convert it), whose digest differs from the one the engine recorded when it pulled.
 */
export const MANIFEST_MEDIA_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
] as const;

/** The Accept header of a manifest request. */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");

/** Whether a manifest answer's Content-Type is one we asked for (parameters ignored). */
export function isManifestMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(type);
}

export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * The challenges of a `WWW-Authenticate` header (RFC 7235): `Bearer realm="https://auth",
 * service="registry",scope="repository:x:pull"`. Quoted values may hold commas and escaped quotes;
 * parameter names are lower-cased. Unparsable text yields what was read before it.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (re: RegExp) => {
    while (i < n && re.test(header[i] ?? "")) i++;
  };
  const token = () => {
    const start = i;
    skip(/[!#$%&'*+.^_`|~0-9A-Za-z-]/);
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skip(/[\s,]/);
    const name = token();
    if (name === "") break;
    skip(/[ \t]/);
    if (header[i] === "=") {
      i++;
      skip(/[ \t]/);
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // Lenient: servers write unquoted URLs, which are not RFC tokens.
        const start = i;
        while (i < n && !/[\s,]/.test(header[i] ?? "")) i++;
        value = header.slice(start, i);
      }
      if (!current) break;
      current.params[name.toLowerCase()] = value;
    } else {
      current = { scheme: name, params: {} };
      out.push(current);
    }
  }
  return out;
}

/** The Bearer challenge's realm, service and scope, if the header has one with a realm. */
export function bearerChallenge(
  header: string | undefined,
): { realm: string; service?: string; scope?: string } | undefined {
  if (!header) return undefined;
  const bearer = parseWwwAuthenticate(header).find((c) => c.scheme.toLowerCase() === "bearer");
  const realm = bearer?.params.realm;
  if (!bearer || !realm) return undefined;
  const { service, scope } = bearer.params;
  return { realm, ...(service ? { service } : {}), ...(scope ? { scope } : {}) };
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (relative to `now`); undefined when
 * absent or unreadable, 0 for a date already past.
 */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/**
 * Whether a registry is spoken to in plain HTTP: one on 127.0.0.0/8 (as the engine does by
 * default; also `localhost`, which the engine resolves to it), or one the configuration names
 * (`host` or `host:port`, as written in the image reference).
 */
export function isInsecureRegistry(registry: string, configured: readonly string[]): boolean {
  if (configured.includes(registry)) return true;
  const host = registry.replace(/:\d+$/, "");
  if (configured.includes(host)) return true;
  if (host === "localhost") return true;
  const octets = host.split(".");
  return (
    octets.length === 4 &&
    octets[0] === "127" &&
    octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)
  );
}
