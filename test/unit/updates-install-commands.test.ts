// Install presses (issue #16): who may start an install, as a user pressing Install (or publishing
// to the topic by hand) would see it answered on `.../update/result`.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Topics } from "../../src/homeassistant/topics.js";
import type { MessageHandler } from "../../src/mqtt/publisher.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { InstallCommands, type InstallCommandsDeps } from "../../src/updates/install-commands.js";

const topics = new Topics({ baseTopic: "docker", hostId: "nas", discoveryPrefix: "homeassistant" });
const web = { name: "web", id: "a".repeat(64), labels: {} } as unknown as ContainerRecord;

function setUp(over: Partial<InstallCommandsDeps> = {}) {
  const handlers: MessageHandler[] = [];
  const answers: Record<string, unknown>[] = [];
  const installs: string[] = [];
  const commands = new InstallCommands({
    topics,
    publisher: {
      subscribe: (_filter, handler) => handlers.push(handler),
      unsubscribe: () => {},
      publishEvent: (_topic, payload) => answers.push(JSON.parse(payload)),
    },
    log: pino({ level: "silent" }),
    containers: () => [web],
    mayInstall: () => true,
    hasUpdate: () => true,
    install: async (record) => {
      installs.push(record.name);
      return { ok: true } as never;
    },
    ...over,
  });
  commands.start();
  const press = (retained = false) =>
    handlers[0]?.(topics.containerUpdateInstall("web"), Buffer.from("install"), retained);
  return { commands, answers, installs, press };
}

describe("Install presses", () => {
  it("a press while another action holds the container is refused, and nothing is installed", async () => {
    const released: string[] = [];
    const held = new Set([web.id]);
    const { commands, answers, installs, press } = setUp({
      exclusive: (id) =>
        held.has(id)
          ? { ok: false, reason: "busy" }
          : { ok: true, release: () => released.push(id) },
    });
    press();
    await commands.idle();
    expect(installs).toEqual([]);
    expect(answers).toEqual([
      {
        container: "web",
        action: "install",
        ok: false,
        error: "busy: another action on this container is under way",
      },
    ]);
    held.clear();
    press();
    await commands.idle();
    expect(installs).toEqual(["web"]);
    expect(released).toEqual([web.id]);
  });

  it("a press with no update known for the container is refused", async () => {
    const { commands, answers, installs, press } = setUp({ hasUpdate: () => false });
    press();
    await commands.idle();
    expect(installs).toEqual([]);
    expect(answers[0]).toMatchObject({
      ok: false,
      error: "no update known for this container: nothing to install",
    });
  });

  it("a retained press does nothing at all", async () => {
    const { commands, answers, installs, press } = setUp();
    press(true);
    await commands.idle();
    expect(installs).toEqual([]);
    expect(answers).toEqual([]);
  });
});
