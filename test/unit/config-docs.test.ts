// The documentation generated from the schema must match what is committed: the README's
// configuration reference and config/config.example.yaml. On failure, run `npm run docs`.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  CONFIG_END,
  CONFIG_START,
  configReferenceMarkdown,
  exampleConfigYaml,
  withConfigReference,
} from "../../src/config/docs.js";
import { configKeys, loadConfig } from "../../src/config/loader.js";

const README = fileURLToPath(new URL("../../README.md", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../config/config.example.yaml", import.meta.url));
const STALE = "out of date with src/config/schema.ts: run `npm run docs`";

describe("configuration docs", () => {
  it("the README's reference table is the generated one", () => {
    const readme = readFileSync(README, "utf8");
    const start = readme.indexOf(CONFIG_START);
    const end = readme.indexOf(CONFIG_END);
    expect(start, `README.md needs ${CONFIG_START} and ${CONFIG_END}`).toBeGreaterThan(-1);
    expect(readme.slice(start + CONFIG_START.length, end), `README.md is ${STALE}`).toBe(
      `\n${configReferenceMarkdown()}\n`,
    );
    expect(withConfigReference(readme)).toBe(readme);
  });

  it("config/config.example.yaml is the generated one", () => {
    expect(readFileSync(EXAMPLE, "utf8"), `config/config.example.yaml is ${STALE}`).toBe(
      exampleConfigYaml(),
    );
  });

  it("has one row and one example key for every key of the schema", () => {
    const table = configReferenceMarkdown().split("\n").slice(2);
    const keys = configKeys();
    expect(table.map((row) => /^\| `([^`]+)`/.exec(row)?.[1])).toEqual(keys.map((k) => k.key));
    const example = exampleConfigYaml();
    for (const k of keys) expect(example).toContain(`env ${k.env}, flag --${k.arg}\n`);
  });

  it("the example file loads, and gives exactly the defaults", () => {
    const fromFile = loadConfig({ argv: ["--config", EXAMPLE], env: {} });
    expect(fromFile.config).toEqual(loadConfig({ argv: [], env: {} }).config);
    expect(new Set(Object.values(fromFile.sources))).toEqual(new Set([`file ${EXAMPLE}`]));
  });
});
