import { describe, expect, it } from "vitest";
import { parseAuthFile, registryAuthHeader } from "../../src/updates/auth-file.js";
import {
  formatReference,
  localDigest,
  parseReference,
  registryHost,
  shortDigest,
} from "../../src/updates/reference.js";
import {
  bearerChallenge,
  isInsecureRegistry,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  parseWwwAuthenticate,
  retryAfterMs,
} from "../../src/updates/registry-protocol.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["nginx", "docker.io", "library/nginx", "latest", null],
    ["nginx:1.27", "docker.io", "library/nginx", "1.27", null],
    ["library/nginx", "docker.io", "library/nginx", "latest", null],
    ["org/app:2", "docker.io", "org/app", "2", null],
    ["docker.io/nginx", "docker.io", "library/nginx", "latest", null],
    ["docker.io/library/nginx:1.27", "docker.io", "library/nginx", "1.27", null],
    ["index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", null],
    ["registry-1.docker.io/org/app:x", "docker.io", "org/app", "x", null],
    ["ghcr.io/org/app:latest", "ghcr.io", "org/app", "latest", null],
    ["registry:5000/x/y", "registry:5000", "x/y", "latest", null],
    ["registry:5000/x/y:v1.2-rc_3", "registry:5000", "x/y", "v1.2-rc_3", null],
    ["localhost:5000/x", "localhost:5000", "x", "latest", null],
    ["localhost/x", "localhost", "x", "latest", null],
    ["127.0.0.1:5000/dmb/app:1", "127.0.0.1:5000", "dmb/app", "1", null],
    [`x@${D}`, "docker.io", "library/x", null, D],
    [`x:tag@${D}`, "docker.io", "library/x", "tag", D],
    [`registry:5000/x/y:t@${D}`, "registry:5000", "x/y", "t", D],
    ["Quay.IO/a/b", "quay.io", "a/b", "latest", null],
  ])("%s", (text, registry, repository, tag, digest) => {
    expect(parseReference(text)).toEqual({ registry, repository, tag, digest });
  });

  it.each([
    "",
    " nginx",
    "Nginx",
    "nginx:",
    "nginx:bad tag",
    "x@sha256:short",
    "x@",
    "a//b",
    "-a/b",
    `sha256:${"b".repeat(64)}`,
    "b".repeat(64),
  ])("rejects %j", (text) => {
    expect(parseReference(text)).toBeUndefined();
  });

  it("writes a reference out in full and finds the Docker Hub API host", () => {
    const ref = parseReference("nginx:1.27");
    expect(ref && formatReference(ref)).toBe("docker.io/library/nginx:1.27");
    expect(registryHost("docker.io")).toBe("registry-1.docker.io");
    expect(registryHost("127.0.0.1:5000")).toBe("127.0.0.1:5000");
  });
});

describe("localDigest", () => {
  it("takes the RepoDigests entry of the same repository, across Docker Hub's spellings", () => {
    const e = `sha256:${"e".repeat(64)}`;
    const ref = parseReference("nginx:1.27");
    if (!ref) throw new Error("parse");
    expect(localDigest(ref, [`other@${e}`, `nginx@${D}`])).toBe(D);
    expect(localDigest(ref, [`docker.io/library/nginx@${D}`])).toBe(D);
    expect(localDigest(ref, [`ghcr.io/library/nginx@${D}`])).toBeUndefined();
    expect(localDigest(ref, [])).toBeUndefined();
    const local = parseReference("127.0.0.1:5000/x/y:1");
    if (!local) throw new Error("parse");
    expect(localDigest(local, [`127.0.0.1:5000/x/y@${e}`])).toBe(e);
  });

  it("shortens digests as docker does", () => {
    expect(shortDigest(D)).toBe("sha256:aaaaaaaaaaaa");
  });
});

describe("WWW-Authenticate", () => {
  it("reads Docker Hub's Bearer challenge", () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"';
    expect(bearerChallenge(header)).toEqual({
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/nginx:pull",
    });
  });

  it("reads several challenges, unquoted values, escapes, commas in quotes and case", () => {
    expect(
      parseWwwAuthenticate(
        'Basic realm="Registry Realm", BEARER Realm=https://x/t, Scope="repository:a:pull,push", error="say \\"hi\\""',
      ),
    ).toEqual([
      { scheme: "Basic", params: { realm: "Registry Realm" } },
      {
        scheme: "BEARER",
        params: { realm: "https://x/t", scope: "repository:a:pull,push", error: 'say "hi"' },
      },
    ]);
    expect(bearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(bearerChallenge("Bearer")).toBeUndefined();
    expect(bearerChallenge('Bearer realm="https://r"')).toEqual({ realm: "https://r" });
    expect(bearerChallenge(undefined)).toBeUndefined();
  });
});

describe("manifest media types", () => {
  it("accepts indexes, lists and single manifests, index types first", () => {
    expect(MANIFEST_ACCEPT.split(", ")).toEqual([
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.oci.image.manifest.v1+json",
    ]);
    expect(isManifestMediaType("application/vnd.oci.image.index.v1+json; charset=utf-8")).toBe(
      true,
    );
    expect(isManifestMediaType("application/vnd.docker.distribution.manifest.v1+prettyjws")).toBe(
      false,
    );
    expect(isManifestMediaType(undefined)).toBe(false);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("reads seconds and HTTP dates", () => {
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe("insecure registries", () => {
  it("allows plain HTTP only to 127.0.0.0/8, localhost and configured names", () => {
    expect(isInsecureRegistry("127.0.0.1:5000", [])).toBe(true);
    expect(isInsecureRegistry("127.8.9.10", [])).toBe(true);
    expect(isInsecureRegistry("localhost:5000", [])).toBe(true);
    expect(isInsecureRegistry("128.0.0.1:5000", [])).toBe(false);
    expect(isInsecureRegistry("127.0.0.1.evil.example:5000", [])).toBe(false);
    expect(isInsecureRegistry("127.0.0.300", [])).toBe(false);
    expect(isInsecureRegistry("registry:5000", [])).toBe(false);
    expect(isInsecureRegistry("registry:5000", ["registry:5000"])).toBe(true);
    expect(isInsecureRegistry("registry:5000", ["registry"])).toBe(true);
    expect(isInsecureRegistry("ghcr.io", ["registry"])).toBe(false);
  });
});

describe("auth file", () => {
  it("reads base64 auth and username/password entries, keyed by registry", () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const creds = parseAuthFile(
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hub:pa:ss") },
          "ghcr.io": { username: "me", password: "tok" },
          "http://127.0.0.1:5000": { auth: b64("u:p") },
          "helper.example": {},
        },
        credsStore: "desktop",
      }),
    );
    expect(Object.fromEntries(creds)).toEqual({
      "docker.io": { username: "hub", password: "pa:ss" },
      "ghcr.io": { username: "me", password: "tok" },
      "127.0.0.1:5000": { username: "u", password: "p" },
    });
    expect(parseAuthFile("{}").size).toBe(0);
    expect(() => parseAuthFile('{"auths": 3}')).toThrow();
  });

  it("encodes X-Registry-Auth as the engine reads it", () => {
    const header = registryAuthHeader({ username: "u", password: "p" }, "ghcr.io");
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({
      username: "u",
      password: "p",
      serveraddress: "ghcr.io",
    });
  });
});
