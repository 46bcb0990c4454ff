// Registry credentials from a Docker `config.json` (its `auths` entries), as `docker login`
// writes it: base64 `auth` ("user:password") or `username`/`password`, keyed by registry host
// or URL (`https://index.docker.io/v1/` for Docker Hub). Parsing is pure; reading is one call.
import { readFile } from "node:fs/promises";
import { z } from "zod/v3";
import { DOCKER_HUB } from "./reference.js";

export interface Credentials {
  username: string;
  password: string;
}

const authFileSchema = z
  .object({
    auths: z
      .record(
        z.string(),
        z
          .object({
            auth: z.string().optional(),
            username: z.string().optional(),
            password: z.string().optional(),
            identitytoken: z.string().optional(),
          })
          .passthrough(),
      )
      .optional(),
  })
  .passthrough();

/** The registry name an `auths` key stands for: host[:port], Docker Hub's keys as `docker.io`. */
export function registryOfAuthKey(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, "");
  host = host.split("/")[0]?.toLowerCase() ?? "";
  if (host === "index.docker.io" || host === "registry-1.docker.io") return DOCKER_HUB;
  return host;
}

function credentialsOf(entry: {
  auth?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}): Credentials | undefined {
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password !== undefined) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/**
 * Credentials by registry name, from the file's text. Entries without usable credentials are
 * skipped (a credential helper's empty entry); text that is not such a file throws.
 */
export function parseAuthFile(text: string): Map<string, Credentials> {
  const parsed = authFileSchema.parse(JSON.parse(text));
  const out = new Map<string, Credentials>();
  for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
    const creds = credentialsOf(entry);
    if (creds) out.set(registryOfAuthKey(key), creds);
  }
  return out;
}

/** Reads and parses the auth file; errors carry the path but never the file's content. */
export async function readAuthFile(path: string): Promise<Map<string, Credentials>> {
  const text = await readFile(path, "utf8");
  try {
    return parseAuthFile(text);
  } catch {
    throw new Error(`${path} is not a Docker config.json with an "auths" object`);
  }
}

/** The engine's `X-Registry-Auth` header value for a pull (base64url JSON). */
export function registryAuthHeader(creds: Credentials, registry: string): string {
  const json = JSON.stringify({
    username: creds.username,
    password: creds.password,
    serveraddress: registry,
  });
  return Buffer.from(json, "utf8").toString("base64url");
}
