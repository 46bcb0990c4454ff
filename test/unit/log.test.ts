// Log formats: JSON a line for collectors, pretty for people, and secrets redacted in both.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, resolveLogFormat } from "../../src/runtime/log.js";

function capture(isTTY = false): Writable & { text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => text });
}

describe("log format", () => {
  it("json: one object a line, with the password redacted", () => {
    const out = capture();
    createLogger("info", out, "json").info(
      { container: "web", mqtt: { password: "hunter2" } },
      "container event",
    );
    const line = JSON.parse(out.text());
    expect(line).toMatchObject({
      level: 30,
      name: "docker-mqtt-bridge",
      container: "web",
      mqtt: { password: "[redacted]" },
      msg: "container event",
    });
  });

  it("pretty: a human line, no JSON, no colours into a non-terminal, still redacted", () => {
    const out = capture();
    createLogger("info", out, "pretty").warn(
      { container: "web", password: "hunter2" },
      "engine lost",
    );
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: engine lost\n/);
    expect(text).toContain('container: "web"');
    expect(text).toContain('password: "[redacted]"');
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("\u001b[");
  });

  it("auto: pretty only for a terminal", () => {
    expect(resolveLogFormat("auto", capture(true))).toBe("pretty");
    expect(resolveLogFormat("auto", capture(false))).toBe("json");
    expect(resolveLogFormat("json", capture(true))).toBe("json");
    expect(resolveLogFormat("pretty", capture(false))).toBe("pretty");
    const out = capture(false);
    createLogger("info", out, "auto").info("hello");
    expect(JSON.parse(out.text()).msg).toBe("hello");
  });
});
