// What the events topics carry about a container: its labels, except secret-looking ones (a
// Traefik basic-auth hash, an API key) unless configured otherwise, and exec command lines
// unless turned off. Checked on everything a subscriber to the broker receives.
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../helpers/harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const HASH = "admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";
const LABELS = {
  "traefik.http.middlewares.site-auth.basicauth.users": HASH,
  "app.api_key": "k-123456-SECRET",
  "com.example.db.password": "hunter2",
  "traefik.http.routers.site.middlewares": "site-auth",
  "com.docker.compose.project": "site",
  "com.docker.compose.service": "web",
  "com.docker.compose.config-hash": "5f3c1e",
  "org.opencontainers.image.authors": "someone",
  "keycloak.realm": "home",
};
const SECRETS = [HASH, "k-123456-SECRET", "hunter2"];

async function startEvents(env: Record<string, string> = {}) {
  h = await startHarness({ env });
  const { engine, recorder: rec, topics } = h;
  await engine.waitForEventStream();
  engine.run({ name: "site-web-1", labels: LABELS });
  engine.exec("site-web-1", "mysql -u root -phunter2 -e 'select 1'");
  await rec.waitFor("exec_die", () => rec.on(topics.event("container", "exec_die")).length > 0);
  const start = rec.last(topics.event("container", "start"));
  const exec = rec.last(topics.event("container", "exec_create"));
  return {
    start: JSON.parse(start ?? "{}") as { attributes: Record<string, string> },
    exec: JSON.parse(exec ?? "{}") as { detail: string },
    everything: rec.messages.map((m) => `${m.topic} ${m.payload}`).join("\n"),
  };
}

describe("what the events topics carry", () => {
  it("leaves out secret-looking labels by default, and keeps ordinary ones", async () => {
    const { start, everything } = await startEvents({ EVENTS_EXEC_COMMANDS: "false" });
    expect(Object.keys(start.attributes).sort()).toEqual(
      [
        "com.docker.compose.config-hash",
        "com.docker.compose.project",
        "com.docker.compose.service",
        "image",
        "keycloak.realm",
        "name",
        "org.opencontainers.image.authors",
        "traefik.http.routers.site.middlewares",
      ].sort(),
    );
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });

  it("publishes exec command lines unless EVENTS_EXEC_COMMANDS is false", async () => {
    const shown = await startEvents();
    expect(shown.exec.detail).toBe("mysql -u root -phunter2 -e 'select 1'");
    await h?.close();
    const hidden = await startEvents({ EVENTS_EXEC_COMMANDS: "false" });
    expect(hidden.exec.detail).toBe("");
  });

  it("takes the user's own list instead of the default; empty leaves every label in", async () => {
    const own = await startEvents({ EVENTS_OMIT_LABELS: "keycloak.*,/^COM\\.DOCKER/i" });
    expect(Object.keys(own.start.attributes).sort()).toEqual(
      [
        "app.api_key",
        "com.example.db.password",
        "image",
        "name",
        "org.opencontainers.image.authors",
        "traefik.http.middlewares.site-auth.basicauth.users",
        "traefik.http.routers.site.middlewares",
      ].sort(),
    );
    await h?.close();
    const none = await startEvents({ EVENTS_OMIT_LABELS: "" });
    expect(Object.keys(none.start.attributes)).toHaveLength(Object.keys(LABELS).length + 2);
  });
});
