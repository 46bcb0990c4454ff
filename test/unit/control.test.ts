// The pure rules of control (issue #14): what a command payload may say, which containers the
// allowlist lets commands act on, the busy and rate-limit gate, and finding the bridge's own
// container from the kernel's tables.
import { describe, expect, it } from "vitest";
import {
  buildControlPolicy,
  CONTAINER_ACTIONS,
  HOST_ACTIONS,
  parseCommand,
  STACK_ACTIONS,
} from "../../src/control/commands.js";
import { CommandGate } from "../../src/control/gate.js";
import { idsIn, isSelfBy } from "../../src/control/self.js";
import { Topics } from "../../src/homeassistant/topics.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { runningRecord } from "./fixtures.js";

const cmd = (text: string) => parseCommand(Buffer.from(text), CONTAINER_ACTIONS);

describe("parseCommand", () => {
  it('reads an action word or {"action": ...}, in any case and with blanks around', () => {
    expect(cmd("restart")).toEqual({ action: "restart" });
    expect(cmd("  STOP\n")).toEqual({ action: "stop" });
    expect(cmd('{"action": "Pause"}')).toEqual({ action: "pause" });
    expect(parseCommand(Buffer.from("prune_images"), HOST_ACTIONS)).toEqual({
      action: "prune_images",
    });
  });

  it("names what is wrong with anything else", () => {
    expect(cmd("explode")).toEqual({
      error: 'unknown action "explode": expected one of start, stop, restart, pause, unpause',
    });
    expect(parseCommand(Buffer.from("pause"), STACK_ACTIONS)).toEqual({
      error: 'unknown action "pause": expected one of start, stop, restart',
    });
    expect(cmd('{"action": 3}')).toEqual({
      error: "unknown action no action: expected one of start, stop, restart, pause, unpause",
    });
    expect(cmd("{not json")).toEqual({
      error: 'not JSON: send an action word, or {"action": "<action>"}',
    });
    expect(cmd("")).toMatchObject({ error: expect.stringMatching(/^unknown action ""/) });
    expect(cmd("x".repeat(2000))).toEqual({ error: "payload longer than 1024 bytes" });
  });
});

function record(name: string, labels: Record<string, string> = {}): ContainerRecord {
  return runningRecord(name, {
    id: "0".repeat(64),
    image: "busybox",
    labels,
    restart_policy: null,
  });
}

describe("the control allowlist", () => {
  it("allows names matching a glob or /regex/, and nothing when the list is empty", () => {
    const policy = buildControlPolicy(["web", "media-*", "/^vpn[0-9]$/"]);
    expect(policy(record("web"))).toBeUndefined();
    expect(policy(record("media-jellyfin"))).toBeUndefined();
    expect(policy(record("vpn2"))).toBeUndefined();
    expect(policy(record("webserver"))).toMatch(/^not in control.containers/);
    expect(buildControlPolicy([])(record("web"))).toMatch(/^not in control.containers/);
  });

  it("a control label decides over the list: true allows, false forbids", () => {
    const policy = buildControlPolicy(["web"]);
    expect(policy(record("db", { "docker-mqtt-bridge.control": "true" }))).toBeUndefined();
    expect(policy(record("db", { "docker-mqtt-bridge.control": " YES " }))).toBeUndefined();
    expect(policy(record("web", { "docker-mqtt-bridge.control": "false" }))).toBe(
      "labelled docker-mqtt-bridge.control=false",
    );
    // A value that is neither leaves the decision to the list.
    expect(policy(record("web", { "docker-mqtt-bridge.control": "maybe" }))).toBeUndefined();
  });
});

describe("CommandGate", () => {
  const limits = {
    perTargetBurst: 2,
    perTargetRefillMs: 1000,
    overallBurst: 3,
    overallRefillMs: 500,
  };

  it("refuses a second command for a target while the first runs, and admits it after", () => {
    const gate = new CommandGate(limits, () => 0);
    const first = gate.admit(["a"]);
    expect(first.ok).toBe(true);
    expect(gate.admit(["a"])).toEqual({ ok: false, reason: "busy" });
    expect(gate.admit(["b", "a"])).toEqual({ ok: false, reason: "busy" });
    if (first.ok) first.release();
    expect(gate.admit(["a"]).ok).toBe(true);
  });

  it("limits each target and all targets together, refilling over time", () => {
    let now = 0;
    const gate = new CommandGate(limits, () => now);
    const run = (t: string) => {
      const a = gate.admit([t]);
      if (a.ok) a.release();
      return a.ok ? "ok" : a.reason;
    };
    expect([run("a"), run("a"), run("a")]).toEqual(["ok", "ok", "rate_limited"]);
    expect([run("b"), run("c")]).toEqual(["ok", "rate_limited"]); // overall burst 3 spent
    now = 500; // one overall token back; "a" still needs 1000 ms for its first
    expect([run("a"), run("c")]).toEqual(["rate_limited", "ok"]);
    now = 2000;
    expect(run("a")).toBe("ok");
  });
});

describe("finding the bridge's own container", () => {
  const id = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
  const other = "aa".repeat(32);

  it("from a cgroup v1 path, a systemd scope, or Podman's scope", () => {
    for (const cgroup of [
      `12:memory:/docker/${id}\n0::/\n`,
      `0::/system.slice/docker-${id}.scope\n`,
      `0::/machine.slice/libpod-${id}.scope/container\n`,
    ]) {
      const clues = { ids: idsIn(cgroup), hostname: "myhost" };
      expect(isSelfBy(clues, { id })).toBe(true);
      expect(isSelfBy(clues, { id: other })).toBe(false);
    }
  });

  it("from cgroup v2's mount table (the /etc/hostname bind mount names the container)", () => {
    const mountinfo = [
      `612 589 0:50 / / rw,relatime - overlay overlay rw,upperdir=/var/lib/docker/overlay2/${"b".repeat(64)}/diff`,
      `631 612 254:1 /var/lib/docker/containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw`,
    ].join("\n");
    const clues = { ids: idsIn("0::/\n", mountinfo), hostname: "myhost" };
    expect(isSelfBy(clues, { id })).toBe(true);
    expect(isSelfBy(clues, { id: other })).toBe(false);
  });

  it("from the default hostname, the id's first 12 characters; never from a longer hex run", () => {
    expect(isSelfBy({ ids: new Set(), hostname: id.slice(0, 12) }, { id })).toBe(true);
    expect(isSelfBy({ ids: new Set(), hostname: "web" }, { id })).toBe(false);
    expect(idsIn(`x${id}f`).size).toBe(0);
  });
});

describe("command topics", () => {
  it("tells a stack's command topic from a container's, whatever the base topic holds", () => {
    const topics = new Topics({ baseTopic: "home/stacks", hostId: "nas", discoveryPrefix: "ha" });
    expect(topics.isStackCommand(topics.stackCommand("media"))).toBe(true);
    expect(topics.isStackCommand(topics.containerCommand("web"))).toBe(false);
    expect(topics.isStackCommand(topics.hostCommand())).toBe(false);
    expect(topics.isStackCommand("home/stacks/nas/stacks/a/b/command")).toBe(false);
  });
});
