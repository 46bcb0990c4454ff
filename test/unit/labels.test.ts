import { describe, expect, it } from "vitest";
import {
  enableLabel,
  isValidIcon,
  type LabelProblem,
  LabelProblemReporter,
} from "../../src/homeassistant/labels.js";
import { defaultMirror } from "../../src/publish/bridge.js";
import {
  buildContainerFilter,
  buildKeyMatcher,
  SECRET_LABEL_PATTERNS,
} from "../../src/state/filter.js";
import type { ContainerRecord } from "../../src/state/model.js";
import { discoveryProblems } from "../helpers/ha-rules.js";

const ENABLE = "docker-mqtt-bridge.enable";
const record = (labels: Record<string, string>) =>
  ({ name: "web", labels, compose_project: null }) as unknown as ContainerRecord;

const NO_FILTER = {
  include: [],
  exclude: [],
  labelsInclude: [],
  labelsExclude: [],
  projectsInclude: [],
  projectsExclude: [],
  labelledOnly: false,
  includeOneoff: false,
};

describe("docker-mqtt-bridge.enable", () => {
  const offs = ["false", "False", "0", "no", " NO ", "off", "Off\n"];
  const ons = ["true", "TRUE", "1", "yes", " Yes", "on", "ON "];

  it("reads false/0/no/off and true/1/yes/on in any case, trimmed; anything else is no opinion", () => {
    for (const v of offs) expect(enableLabel({ [ENABLE]: v }), v).toBe(false);
    for (const v of ons) expect(enableLabel({ [ENABLE]: v }), v).toBe(true);
    for (const v of ["", "maybe", "2", "nope"])
      expect(enableLabel({ [ENABLE]: v }), v).toBe(undefined);
    expect(enableLabel({})).toBe(undefined);
  });

  it("hides a container with any off value, by default and with filters", () => {
    const filtered = buildContainerFilter({ ...NO_FILTER, exclude: ["nothing"] });
    for (const v of offs) {
      expect(defaultMirror(record({ [ENABLE]: v })), v).toBe(false);
      expect(filtered(record({ [ENABLE]: v })), v).toBe(false);
    }
    expect(defaultMirror(record({ [ENABLE]: "maybe" }))).toBe(true);
    expect(defaultMirror(record({}))).toBe(true);
  });

  it("counts any on value as opted in for filter.labelled_only", () => {
    const labelledOnly = buildContainerFilter({ ...NO_FILTER, labelledOnly: true });
    for (const v of ons) expect(labelledOnly(record({ [ENABLE]: v })), v).toBe(true);
    for (const v of [...offs, "maybe"])
      expect(labelledOnly(record({ [ENABLE]: v })), v).toBe(false);
    expect(labelledOnly(record({}))).toBe(false);
  });
});

describe("docker-mqtt-bridge.icon", () => {
  it("accepts exactly what Home Assistant accepts", () => {
    const config = (icon: string) =>
      JSON.stringify({
        name: "Running",
        state_topic: "docker/nas/containers/web/state",
        unique_id: "dmb_nas__web_running",
        default_entity_id: "binary_sensor.web_running",
        icon,
        device: { identifiers: ["dmb_nas__web"], name: "web" },
        origin: { name: "docker-mqtt-bridge" },
      });
    for (const icon of ["mdi:movie", "hass:docker", "phu:nintendo-switch", "notanicon", "mdi"]) {
      const accepted =
        discoveryProblems(
          "homeassistant",
          "homeassistant/binary_sensor/x/running/config",
          config(icon),
        ).length === 0;
      expect(isValidIcon(icon), icon).toBe(accepted);
    }
  });
});

describe("LabelProblemReporter", () => {
  it("reports a problem once per container, label and value", () => {
    const seen: LabelProblem[] = [];
    const reporter = new LabelProblemReporter((p) => seen.push(p));
    const p = { container: "web", label: "l", value: "v", reason: "r" };
    reporter.report(p);
    reporter.report({ ...p });
    reporter.report({ ...p, value: "w" });
    reporter.report({ ...p, container: "db" });
    reporter.report({ ...p, value: "w" });
    expect(seen.map((s) => `${s.container} ${s.value}`)).toEqual(["web v", "web w", "db v"]);
  });
});

describe("the default list of secret-looking label keys", () => {
  const secret = buildKeyMatcher(SECRET_LABEL_PATTERNS);

  it("catches credentials as people label them", () => {
    for (const key of [
      "traefik.http.middlewares.auth.basicauth.users",
      "traefik.http.middlewares.x.digestAuth.users",
      "com.example.db.PASSWORD",
      "MYSQL_ROOT_PASSWORD",
      "app.passwd",
      "app.secret",
      "vault.token",
      "github_token",
      "aws.credentials",
      "app.apiKey",
      "app.api_key",
      "x-api-key",
      "tls.private_key",
      "ssh.key",
      "license_key",
      "key",
      "registry.auth",
      "http.authorization",
      "smtp_pass",
    ])
      expect(secret(key), key).toBe(true);
  });

  it("leaves ordinary labels alone: Compose, OCI, Traefik routing, watchtower", () => {
    for (const key of [
      "com.docker.compose.project",
      "com.docker.compose.config-hash",
      "com.docker.compose.project.config_files",
      "com.docker.compose.project.working_dir",
      "com.docker.compose.container-number",
      "com.docker.compose.depends_on",
      "com.docker.compose.image",
      "org.opencontainers.image.authors",
      "org.opencontainers.image.source",
      "maintainer",
      "traefik.http.routers.web.middlewares",
      "traefik.http.middlewares.auth.forwardauth.address",
      "traefik.http.routers.web.tls.certresolver",
      "com.centurylinklabs.watchtower.enable",
      "keycloak.realm",
      "monkey",
      "docker-mqtt-bridge.icon",
      "passage",
    ])
      expect(secret(key), key).toBe(false);
  });

  it("reads /regex/ patterns as written and globs in any case", () => {
    const m = buildKeyMatcher(["Keycloak.*", "/^COM\\.docker/"]);
    expect(m("keycloak.realm")).toBe(true);
    expect(m("COM.docker.x")).toBe(true);
    expect(m("com.docker.x")).toBe(false);
  });
});
