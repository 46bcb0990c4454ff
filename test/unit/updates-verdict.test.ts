import { describe, expect, it } from "vitest";
import { Topics } from "../../src/homeassistant/topics.js";
import type { ContainerRecord } from "../../src/state/model.js";
import {
  finalVerdict,
  localVerdict,
  releaseUrl,
  type UpdateStatus,
} from "../../src/updates/checker.js";
import type { ImageInspect } from "../../src/updates/engine.js";
import { entityState, updatesDiscovery, versionText } from "../../src/updates/home-assistant.js";
import { RegistryError } from "../../src/updates/registry-client.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const AT = "2026-01-01T00:00:00.000Z";

function image(repoDigests: string[] | null): ImageInspect {
  return { Id: `sha256:${"9".repeat(64)}`, RepoDigests: repoDigests };
}

describe("localVerdict", () => {
  it("asks the registry for an image pulled by tag", () => {
    expect(localVerdict("nginx:1.27", image([`nginx@${A}`]))).toEqual({
      kind: "ask",
      ref: { registry: "docker.io", repository: "library/nginx", tag: "1.27", digest: null },
      installed: A,
    });
  });

  it.each([
    [`sha256:${"c".repeat(64)}`, image([]), "image_id", null],
    ["c".repeat(12), image([]), "image_id", null],
    ["Bad Name", image([]), "invalid_reference", null],
    [`nginx@${A}`, image([`nginx@${A}`]), "pinned_by_digest", A],
    [`nginx:1@${A}`, image([`nginx@${A}`]), "pinned_by_digest", A],
    ["nginx:1", null, "image_missing", null],
    ["app:dev", image([]), "no_repo_digests", null],
    ["app:dev", image(null), "no_repo_digests", null],
    ["mine/nginx:1", image([`nginx@${A}`]), "other_repository", null],
  ])("%s is not checkable", (ref, img, reason, installed) => {
    expect(localVerdict(ref, img)).toMatchObject({ kind: "done", reason, installed });
  });
});

describe("finalVerdict", () => {
  const ask = localVerdict("nginx:1.27", image([`nginx@${A}`]));

  it("says available when the registry's digest differs, up to date when equal", () => {
    expect(finalVerdict("nginx:1.27", ask, { digest: B }, AT, null)).toEqual({
      image: "nginx:1.27",
      installed: A,
      latest: B,
      available: true,
      checked_at: AT,
      reason: null,
      detail: null,
      release_url: null,
    });
    expect(finalVerdict("nginx:1.27", ask, { digest: A }, AT, null).available).toBe(false);
  });

  it.each([
    ["REGISTRY_UNREACHABLE", "registry_unreachable"],
    ["REGISTRY_AUTH_FAILED", "registry_auth_failed"],
    ["REGISTRY_RATE_LIMITED", "registry_rate_limited"],
    ["REGISTRY_NOT_FOUND", "tag_not_found"],
    ["REGISTRY_HTTP_ERROR", "registry_error"],
  ] as const)("a registry failure %s is reported as %s, never up to date", (code, reason) => {
    const status = finalVerdict(
      "nginx:1.27",
      ask,
      { error: new RegistryError(code, "it failed") },
      AT,
      null,
    );
    expect(status).toMatchObject({ available: null, latest: null, installed: A, reason });
    expect(status.detail).toBe(`${code}: it failed`);
  });
});

describe("releaseUrl", () => {
  it("takes the OCI source label, else the url label, only when it is a web address", () => {
    expect(
      releaseUrl({
        "org.opencontainers.image.url": "https://example.org",
        "org.opencontainers.image.source": "https://github.com/o/r",
      }),
    ).toBe("https://github.com/o/r");
    expect(releaseUrl({ "org.opencontainers.image.url": "https://example.org" })).toBe(
      "https://example.org",
    );
    expect(releaseUrl({ "org.opencontainers.image.source": "git@github.com:o/r" })).toBeNull();
    expect(releaseUrl(null)).toBeNull();
  });
});

describe("Home Assistant update entity", () => {
  const status: UpdateStatus = {
    image: "nginx:1.27",
    installed: A,
    latest: B,
    available: true,
    checked_at: AT,
    reason: null,
    detail: null,
    release_url: "https://github.com/o/r",
  };

  it("shows tag plus short digest, only keys Home Assistant takes, no null strings", () => {
    expect(entityState(status, undefined)).toEqual({
      title: "nginx:1.27",
      installed_version: "1.27@sha256:aaaaaaaaaaaa",
      latest_version: "1.27@sha256:bbbbbbbbbbbb",
      release_url: "https://github.com/o/r",
      release_summary: "",
      in_progress: false,
      update_percentage: null,
    });
    expect(versionText(`x@${A}`, A)).toBe("sha256:aaaaaaaaaaaa");
    expect(entityState(status, { percentage: 40 })).toMatchObject({
      in_progress: true,
      update_percentage: 40,
    });
  });

  it("leaves out the latest version and says why when not checkable", () => {
    const state = entityState(
      {
        ...status,
        latest: null,
        available: null,
        reason: "registry_unreachable",
        detail: "cannot reach x",
        release_url: null,
      },
      undefined,
    );
    expect(state).toEqual({
      title: "nginx:1.27",
      installed_version: "1.27@sha256:aaaaaaaaaaaa",
      release_summary: "Not checkable: cannot reach x",
      in_progress: false,
      update_percentage: null,
    });
  });

  it("announces an update entity per checked container, Install only where allowed", () => {
    const topics = new Topics({
      baseTopic: "docker",
      hostId: "h",
      discoveryPrefix: "homeassistant",
    });
    const record = { name: "web", id: "1", labels: {} } as unknown as ContainerRecord;
    const ext = updatesDiscovery({
      topics,
      isChecked: (r) => r.name !== "skip",
      mayInstall: (r) => r.labels.allowed === "1",
    });
    const [entity] = ext.container?.(record) ?? [];
    expect(entity?.platform).toBe("update");
    expect(entity?.config.state_topic).toBe("docker/h/containers/web/update");
    expect(entity?.config.command_topic).toBeUndefined();
    const allowed = { ...record, labels: { allowed: "1" } };
    const [installable] = ext.container?.(allowed) ?? [];
    expect(installable?.config).toMatchObject({
      command_topic: "docker/h/containers/web/update/install",
      payload_install: "install",
    });
    expect(ext.containerKey?.(record)).not.toBe(ext.containerKey?.(allowed));
    expect(ext.container?.({ ...record, name: "skip" })).toEqual([]);
    expect(ext.host?.()[0]).toMatchObject({
      key: "updates_available",
      platform: "sensor",
      config: { state_topic: "docker/h/updates" },
    });
  });
});
