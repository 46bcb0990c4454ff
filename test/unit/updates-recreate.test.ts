import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pullQuery } from "../../src/updates/installer.js";
import { PullProgress } from "../../src/updates/pull-progress.js";
import { recreatePlan } from "../../src/updates/recreate.js";
import { readJsonFixture } from "./fixtures.js";

/** Captured from the e2e engine (20.10): user networks with aliases and a static address, a bind,
 * a named and an anonymous volume (test/e2e/updates-install.test.ts's container). */
const captured = (file: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/updates/${file}`, import.meta.url), "utf8")) as Json;

type Json = Record<string, unknown>;

/** The test image the 20.10 captures ran: ENV PATH=/bin, CMD ["sh"], no labels. */
const PROBE_IMAGE = { Env: ["PATH=/bin"], Cmd: ["sh"], Labels: null, Volumes: null };

describe("recreatePlan against the Engine 20.10 captures", () => {
  it("keeps what the user set and drops the engine's and the image's defaults", () => {
    const inspect = readJsonFixture<Json>("api-inspect-probe-healthy.json");
    const plan = recreatePlan(inspect, PROBE_IMAGE, "probe/busybox:1");
    expect(plan.name).toBe("probe-healthy");
    expect(plan.wasRunning).toBe(true);
    expect(plan.connect).toEqual([]);
    const { HostConfig, ...config } = plan.body;
    expect(config).toEqual({
      Domainname: "",
      User: "",
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Cmd: ["sleep", "3600"],
      Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 1000000000 },
      Image: "probe/busybox:1",
      WorkingDir: "",
      Labels: { app: "probe", role: "healthy" },
    });
    // HostConfig goes back as the engine reported it (network mode none: no endpoints).
    expect(HostConfig).toEqual(inspect.HostConfig);
    expect(plan.body.NetworkingConfig).toBeUndefined();
  });

  it("starts again only what was running", () => {
    const inspect = readJsonFixture<Json>("api-inspect-probe-exit3.json");
    const plan = recreatePlan(inspect, PROBE_IMAGE, "probe/busybox:1");
    expect(plan.wasRunning).toBe(false);
    expect(plan.body.Cmd).toEqual(["sh", "-c", "exit 3"]);
  });

  it("copies everything when the old image is gone", () => {
    const inspect = readJsonFixture<Json>("api-inspect-probe-healthy.json");
    const plan = recreatePlan(inspect, undefined, "probe/busybox:1");
    expect(plan.body.Env).toEqual(["PATH=/bin"]);
    expect(plan.body.Hostname).toBeUndefined();
  });
});

describe("recreatePlan against a captured container with networks and volumes", () => {
  const inspect = captured("inspect-container-networks.json");
  const image = captured("inspect-image.json");
  const plan = recreatePlan(inspect, image.Config as Json, String((inspect.Config as Json).Image));
  const shortId = String(inspect.Id).slice(0, 12);

  it("creates on its network mode's network with the alias and the static address", () => {
    expect(plan.body.NetworkingConfig).toEqual({
      EndpointsConfig: {
        "upd-net": { Aliases: ["web-alias"], IPAMConfig: { IPv4Address: "172.29.77.10" } },
      },
    });
    expect(plan.connect).toEqual([{ network: "upd-net2", config: { Aliases: ["second"] } }]);
    expect(JSON.stringify(plan)).not.toContain(`"${shortId}"`);
  });

  it("keeps the user's env, labels, command and binds; mounts the anonymous volume by name", () => {
    expect(plan.body).toMatchObject({
      Env: ["MODE=test"],
      Cmd: ["sleep", "600"],
      Labels: { keep: "me", "com.docker.compose.project": "site" },
      Volumes: { "/anon": {} },
      StopTimeout: 1,
    });
    expect(plan.body.Hostname).toBeUndefined();
    const host = plan.body.HostConfig as Json;
    expect(host.Binds).toEqual((inspect.HostConfig as Json).Binds);
    const anon = (inspect.Mounts as Json[]).find((m) => m.Destination === "/anon");
    expect(host.Mounts).toEqual([
      { Type: "volume", Source: anon?.Name, Target: "/anon", ReadOnly: false },
    ]);
    expect(host.RestartPolicy).toEqual({ Name: "unless-stopped", MaximumRetryCount: 0 });
    expect(plan.wasRunning).toBe(true);
  });
});

describe("recreatePlan: networks, mounts, image defaults", () => {
  const id = `abcdef123456${"0".repeat(52)}`;
  const inspect: Json = {
    Id: id,
    Name: "/web",
    Image: "sha256:old",
    State: { Running: true },
    Config: {
      Hostname: "web-host",
      Image: "ghcr.io/o/web:2",
      Env: ["PATH=/usr/bin", "TZ=Europe/Paris", "APP_VERSION=1.0"],
      Cmd: ["serve"],
      Entrypoint: ["/entry"],
      Labels: {
        "org.opencontainers.image.version": "1.0",
        "com.docker.compose.project": "site",
        "com.docker.compose.service": "web",
        mine: "yes",
      },
      ExposedPorts: { "80/tcp": {}, "9000/tcp": {} },
      Volumes: { "/cache": {} },
      OnBuild: null,
      ArgsEscaped: true,
    },
    HostConfig: {
      NetworkMode: "site_default",
      Binds: ["/srv/web:/srv:ro", "data:/data"],
      Mounts: [{ Type: "bind", Source: "/etc/tz", Target: "/etc/timezone", ReadOnly: true }],
      PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] },
      RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
    },
    Mounts: [
      { Type: "bind", Source: "/srv/web", Destination: "/srv", RW: false },
      { Type: "volume", Name: "data", Destination: "/data", RW: true },
      { Type: "bind", Source: "/etc/tz", Destination: "/etc/timezone", RW: false },
      { Type: "volume", Name: "5f1e...anon", Destination: "/cache", RW: true },
    ],
    NetworkSettings: {
      Networks: {
        site_default: {
          IPAMConfig: { IPv4Address: "172.30.0.10", IPv6Address: "" },
          Aliases: ["web", "site-web-1", "abcdef123456"],
          Links: null,
          DriverOpts: null,
          IPAddress: "172.30.0.10",
        },
        backend: {
          IPAMConfig: null,
          Aliases: ["abcdef123456", "api"],
          Links: null,
          IPAddress: "172.31.0.4",
        },
      },
    },
  };
  const oldImage = {
    Env: ["PATH=/usr/bin", "APP_VERSION=1.0"],
    Cmd: ["serve"],
    Entrypoint: ["/entry"],
    Labels: { "org.opencontainers.image.version": "1.0" },
    ExposedPorts: { "80/tcp": {} },
    Volumes: { "/cache": {} },
  };

  it("keeps the user's settings so the new image's defaults apply to the rest", () => {
    const plan = recreatePlan(inspect, oldImage, "ghcr.io/o/web:2");
    expect(plan.body).toMatchObject({
      Hostname: "web-host",
      Image: "ghcr.io/o/web:2",
      Env: ["TZ=Europe/Paris"],
      Labels: {
        "com.docker.compose.project": "site",
        "com.docker.compose.service": "web",
        mine: "yes",
      },
      ExposedPorts: { "9000/tcp": {} },
    });
    for (const key of ["Cmd", "Entrypoint", "Volumes", "OnBuild", "ArgsEscaped"]) {
      expect(plan.body).not.toHaveProperty(key);
    }
  });

  it("mounts anonymous volumes again by name and keeps binds and mounts", () => {
    const host = recreatePlan(inspect, oldImage, "ghcr.io/o/web:2").body.HostConfig as Json;
    expect(host.Binds).toEqual(["/srv/web:/srv:ro", "data:/data"]);
    expect(host.Mounts).toEqual([
      { Type: "bind", Source: "/etc/tz", Target: "/etc/timezone", ReadOnly: true },
      { Type: "volume", Source: "5f1e...anon", Target: "/cache", ReadOnly: false },
    ]);
    expect(host.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "8080" }] });
    expect(host.RestartPolicy).toEqual({ Name: "unless-stopped", MaximumRetryCount: 0 });
  });

  it("creates on the primary network with aliases and static address, connects the others", () => {
    const plan = recreatePlan(inspect, oldImage, "ghcr.io/o/web:2");
    expect(plan.body.NetworkingConfig).toEqual({
      EndpointsConfig: {
        site_default: {
          Aliases: ["web", "site-web-1"],
          IPAMConfig: { IPv4Address: "172.30.0.10" },
        },
      },
    });
    expect(plan.connect).toEqual([{ network: "backend", config: { Aliases: ["api"] } }]);
  });

  it("gives no endpoints for host, none and container network modes", () => {
    for (const mode of ["host", "none", "container:abc"]) {
      const plan = recreatePlan(
        { ...inspect, HostConfig: { NetworkMode: mode } },
        oldImage,
        "ghcr.io/o/web:2",
      );
      expect(plan.body.NetworkingConfig).toBeUndefined();
      expect(plan.connect).toEqual([]);
    }
  });
});

describe("PullProgress", () => {
  it("sums the layers' bytes and reports the first error", () => {
    const p = new PullProgress();
    expect(p.percentage).toBeNull();
    p.push('{"status":"Pulling from o/web","id":"2"}');
    p.push('{"status":"Downloading","progressDetail":{"current":50,"total":100},"id":"a"}');
    p.push('{"status":"Downloading","progressDetail":{"current":0,"total":300},"id":"b"}');
    expect(p.percentage).toBe(12);
    p.push('{"status":"Download complete","progressDetail":{},"id":"a"}');
    p.push('{"status":"Downloading","progressDetail":{"current":150,"total":300},"id":"b"}');
    expect(p.percentage).toBe(62);
    p.push("not json");
    p.push('{"status":"Pull complete","progressDetail":{},"id":"b"}');
    expect(p.percentage).toBe(100);
    expect(p.error).toBeUndefined();
    p.push('{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}');
    p.push('{"error":"later"}');
    expect(p.error).toBe("manifest unknown");
  });
});

describe("pullQuery", () => {
  it("splits the reference the container names into the name and tag the engine pulls", () => {
    expect(pullQuery("nginx", "latest")).toEqual({ fromImage: "nginx", tag: "latest" });
    expect(pullQuery("nginx:1.27", "1.27")).toEqual({ fromImage: "nginx", tag: "1.27" });
    expect(pullQuery("127.0.0.1:5000/x/y:1", "1")).toEqual({
      fromImage: "127.0.0.1:5000/x/y",
      tag: "1",
    });
    expect(pullQuery("registry:5000/x", "latest")).toEqual({
      fromImage: "registry:5000/x",
      tag: "latest",
    });
  });
});
