import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entityObjectId, entitySlug, isCleanId, sanitiseId } from "../../src/homeassistant/ids.js";
import { VALID_ENTITY_ID } from "../helpers/ha-rules.js";

/** What Home Assistant accepts as a node_id or object_id, and what an MQTT topic level needs. */
const HA_ID = /^[A-Za-z0-9_-]+$/;
const ENTITY_SLUG = /^[a-z0-9]+(_[a-z0-9]+)*$/;

function expectSafeId(id: string): void {
  expect(id).toMatch(HA_ID);
  expect(id.startsWith("_")).toBe(false);
  expect(id.endsWith("_")).toBe(false);
  expect(id).not.toContain("__");
  expect(id.length).toBeLessThanOrEqual(64);
}

/** Strings from an alphabet rich in the characters that sanitising must tell apart. */
const trickyName = fc.string({
  unit: fc.constantFrom("a", "B", "1", ".", "_", "-", " ", "+", "#", "/", "é", "e\u0301", "🐳"),
  maxLength: 12,
});

const anyName = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ maxLength: 80 }),
  trickyName,
);

describe("sanitiseId", () => {
  it("keeps names that are already clean ids", () => {
    for (const name of ["web", "Web", "my-app", "my_app", "a1", "a-", "db_1", "web_DEADBEEF"]) {
      expect(sanitiseId(name)).toBe(name);
    }
  });

  it("turns characters that are not allowed into a readable slug plus a hash of the name", () => {
    const cases: Array<[string, RegExp]> = [
      ["a.b", /^a_b_[0-9a-f]{8}$/],
      ["a+b", /^a_b_[0-9a-f]{8}$/],
      ["a#b", /^a_b_[0-9a-f]{8}$/],
      ["a/b", /^a_b_[0-9a-f]{8}$/],
      ["my app", /^my_app_[0-9a-f]{8}$/],
      ["café", /^caf_[0-9a-f]{8}$/],
      ["🐳web", /^web_[0-9a-f]{8}$/],
      ["a__b", /^a_b_[0-9a-f]{8}$/],
      ["_a", /^a_[0-9a-f]{8}$/],
      ["a_", /^a_[0-9a-f]{8}$/],
    ];
    for (const [name, shape] of cases) {
      const id = sanitiseId(name);
      expect(id, name).toMatch(shape);
      expectSafeId(id);
    }
  });

  it("gives names with nothing readable an id of their own", () => {
    const ids = ["日本", "🐳", "_", "", "...", "+#/"].map(sanitiseId);
    for (const id of ids) {
      expect(id).toMatch(/^x_[0-9a-f]{8}$/);
      expectSafeId(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("keeps a.b and a_b apart, and every name that differs only in one punctuation mark", () => {
    const names = ["a_b", "a.b", "a-b", "a b", "a+b", "a#b", "a/b", "a__b", "a..b", "ab"];
    const ids = names.map(sanitiseId);
    expect(sanitiseId("a_b")).toBe("a_b");
    expect(sanitiseId("a.b")).not.toBe("a_b");
    expect(new Set(ids).size).toBe(names.length);
  });

  it("never keeps a name shaped like a hashed id, so no clean name can collide with one", () => {
    const hashed = sanitiseId("web.1");
    expect(hashed).toMatch(/^web_1_[0-9a-f]{8}$/);
    expect(isCleanId(hashed)).toBe(false);
    expect(sanitiseId(hashed)).not.toBe(hashed);
    expect(sanitiseId("web_deadbeef")).not.toBe("web_deadbeef");
    expect(sanitiseId("web_deadbeef")).toMatch(/^web_deadbeef_[0-9a-f]{8}$/);
  });

  it("shortens 255-character names to at most 64, still distinct", () => {
    const long = "x".repeat(255);
    const longer = `${"x".repeat(254)}y`;
    const id = sanitiseId(long);
    expectSafeId(id);
    expect(id).toMatch(/^x{48}_[0-9a-f]{8}$/);
    expect(sanitiseId(longer)).not.toBe(id);
    expectSafeId(sanitiseId(`${"a.".repeat(127)}b`));
    expect(sanitiseId("y".repeat(64))).toBe("y".repeat(64));
    expect(sanitiseId("y".repeat(65))).not.toBe("y".repeat(65));
  });

  it("always gives a safe id: [A-Za-z0-9_-], no leading, trailing or doubled _, at most 64", () => {
    fc.assert(
      fc.property(anyName, (name) => {
        expectSafeId(sanitiseId(name));
      }),
      { numRuns: 1000 },
    );
  });

  it("is deterministic", () => {
    fc.assert(
      fc.property(anyName, (name) => {
        expect(sanitiseId(name)).toBe(sanitiseId(`${name}`));
      }),
    );
  });

  it("is injective: distinct names never share an id", () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyName, { minLength: 2, maxLength: 60 }), (names) => {
        const ids = new Set(names.map(sanitiseId));
        expect(ids.size).toBe(names.length);
      }),
      { numRuns: 300 },
    );
  });

  it("never maps a name and the id it was sanitised to onto the same id", () => {
    fc.assert(
      fc.property(anyName, (name) => {
        const id = sanitiseId(name);
        if (id !== name) expect(sanitiseId(id)).not.toBe(id);
      }),
    );
  });

  it("keeps every clean name as it is", () => {
    const clean = fc
      .stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]|_[A-Za-z0-9-]){0,40}$/)
      .filter((n) => n.length <= 64 && !/_[0-9a-f]{8}$/.test(n));
    fc.assert(
      fc.property(clean, (name) => {
        expect(isCleanId(name)).toBe(true);
        expect(sanitiseId(name)).toBe(name);
      }),
    );
  });
});

describe("entitySlug", () => {
  it("lowercases and joins words with single underscores", () => {
    expect(entitySlug("web")).toBe("web");
    expect(entitySlug("My-App.1")).toBe("my_app_1");
    expect(entitySlug("__a  b__")).toBe("a_b");
    expect(entitySlug("web_DEADBEEF")).toBe("web_deadbeef");
  });

  it("folds accents and falls back to 'container' when nothing readable is left", () => {
    expect(entitySlug("café")).toBe("cafe");
    expect(entitySlug("Ünïcödé 🐳")).toBe("unicode");
    expect(entitySlug("日本")).toBe("container");
    expect(entitySlug("🐳")).toBe("container");
    expect(entitySlug("")).toBe("container");
  });

  it("shortens long names to 64 characters without a trailing underscore", () => {
    expect(entitySlug("x".repeat(255))).toBe("x".repeat(64));
    expect(entitySlug(`${"a".repeat(63)}.b`)).toBe("a".repeat(63));
  });

  it("always gives [a-z0-9] words joined by single underscores", () => {
    fc.assert(
      fc.property(anyName, (name) => {
        const slug = entitySlug(name);
        expect(slug).toMatch(ENTITY_SLUG);
        expect(slug.length).toBeLessThanOrEqual(64);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("entityObjectId", () => {
  /** Names as people and Compose write them: lowercase words joined by `-`, `_` or `.`. */
  const composeLike = fc.string({
    unit: fc.constantFrom("a", "b", "1", "-", "_", ".", "W"),
    minLength: 1,
    maxLength: 10,
  });

  it("keeps plain names and Compose v2 names readable", () => {
    expect(entityObjectId("web")).toBe("web");
    expect(entityObjectId("site-web-1")).toBe("site_web_1");
    expect(entityObjectId("jellyfin")).toBe("jellyfin");
  });

  it("gives every other name a slug plus a hash of the name", () => {
    expect(entityObjectId("web.1")).toMatch(/^web_1_[0-9a-f]{8}$/);
    expect(entityObjectId("web_1")).toMatch(/^web_1_[0-9a-f]{8}$/);
    expect(entityObjectId("site_web_1")).toMatch(/^site_web_1_[0-9a-f]{8}$/);
    expect(entityObjectId("Web")).toMatch(/^web_[0-9a-f]{8}$/);
    expect(entityObjectId("日本")).toMatch(/^container_[0-9a-f]{8}$/);
    // A kept name can never look like a hashed one.
    expect(entityObjectId("web-deadbeef")).toMatch(/^web_deadbeef_[0-9a-f]{8}$/);
  });

  it("is injective: distinct names never share an entity id", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(composeLike, anyName), { minLength: 2, maxLength: 60 }),
        (names) => {
          const ids = new Set(names.map(entityObjectId));
          expect(ids.size).toBe(names.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("is a pure function of the name and always a valid entity id", () => {
    fc.assert(
      fc.property(fc.oneof(composeLike, anyName), (name) => {
        const id = entityObjectId(name);
        expect(entityObjectId(`${name}`)).toBe(id);
        expect(`binary_sensor.${id}_restart_count`).toMatch(VALID_ENTITY_ID);
        expect(id.length).toBeLessThanOrEqual(64);
      }),
      { numRuns: 1000 },
    );
  });
});
