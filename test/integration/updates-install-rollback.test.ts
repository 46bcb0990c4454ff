// Review finding: when the old container's stop request fails although the engine stopped it (the
// client's timeout, the bridge stopping mid-install and aborting it), the rollback renames the old
// container back but leaves it stopped: the service is down after a "rolled back" install.
import { Readable } from "node:stream";
import pino from "pino";
import { expect, it } from "vitest";
import type { EngineAnswer, EngineCall } from "../../src/docker/client.js";
import { DockerError } from "../../src/errors.js";
import { installUpdate } from "../../src/updates/installer.js";

const OLD = "a".repeat(64);
const NEW = "b".repeat(64);

/** A stand-in engine: just enough of the recreate's calls, with the old container's real state. */
function standIn() {
  const calls: string[] = [];
  const state = { oldRunning: true };
  const answer = (status: number, body: unknown): EngineAnswer =>
    ({
      status,
      body: Object.assign(Readable.from([Buffer.from(JSON.stringify(body))]), {
        json: async () => body,
        text: async () => JSON.stringify(body),
        dump: async () => undefined,
      }),
    }) as unknown as EngineAnswer;
  const engine = {
    async call(req: EngineCall): Promise<EngineAnswer> {
      const path = req.path.split("?")[0] ?? "";
      calls.push(`${req.method} ${path}`);
      if (req.method === "GET" && path === `/containers/${OLD}/json`) {
        return answer(200, {
          Id: OLD,
          Name: "/web",
          Image: "sha256:old",
          Config: { Image: "web:1" },
          HostConfig: { NetworkMode: "none" },
          State: { Running: state.oldRunning },
          NetworkSettings: { Networks: {} },
        });
      }
      if (req.method === "GET" && path === "/images/sha256%3Aold/json")
        return answer(200, { Id: "sha256:old" });
      if (req.method === "GET" && path === "/images/web%3A1/json")
        return answer(200, { Id: "sha256:new" });
      if (path === "/images/create") return answer(200, { status: "Downloaded newer image" });
      if (path === "/containers/create") return answer(201, { Id: NEW });
      if (path === `/containers/${OLD}/stop`) {
        state.oldRunning = false; // the engine did stop it...
        throw new DockerError("DOCKER_UNREACHABLE", "request timed out"); // ...the answer came too late
      }
      if (path === `/containers/${OLD}/start`) {
        state.oldRunning = true;
        return answer(204, null);
      }
      if (req.method === "GET")
        throw new DockerError("DOCKER_HTTP_ERROR", "no such", { status: 404 });
      return answer(204, null);
    },
  };
  return { engine, calls, state };
}

it("a rolled-back install leaves the old container running as it was", async () => {
  const { engine, state } = standIn();
  const outcome = await installUpdate(
    {
      docker: engine,
      log: pino({ level: "silent" }),
      credentialsFor: async () => undefined,
      onProgress: () => {},
    },
    OLD,
  );
  expect(outcome).toMatchObject({ ok: false, step: "stop", rolledBack: true });
  expect(state.oldRunning).toBe(true);
});
