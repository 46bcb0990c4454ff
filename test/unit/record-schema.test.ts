// The library's containerRecordSchema: a zod schema (zod's current API, so it composes with a
// user's own schemas) of exactly the records the bridge builds. The service keeps plain types and
// never loads it (see src/lib/record-schema.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { containerInspectSchema } from "../../src/docker/schemas.js";
import { containerRecordSchema } from "../../src/lib/index.js";
import { recordFromInspect } from "../../src/state/reducer.js";

function capturedRecord(name: string) {
  const file = `../fixtures/docker-engine-20.10/api-inspect-probe-${name}.json`;
  const inspect = containerInspectSchema.parse(
    JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8")),
  );
  const record = recordFromInspect(inspect);
  if (!record) throw new Error(`no record from ${file}`);
  return record;
}

describe("containerRecordSchema (library)", () => {
  it("accepts the records the reducer builds from captured inspect answers, unchanged", () => {
    for (const name of ["healthy", "unhealthy", "exit3"]) {
      const record = capturedRecord(name);
      expect(containerRecordSchema.parse(record)).toEqual(record);
    }
  });

  it("composes with a user's own zod schemas and rejects a record of the wrong shape", () => {
    const stored = z.object({ savedAt: z.string(), records: z.array(containerRecordSchema) });
    const record = capturedRecord("healthy");
    expect(stored.safeParse({ savedAt: "now", records: [record] }).success).toBe(true);
    const wrong = { ...record, status: "sleeping", restart_count: "2" };
    const result = stored.safeParse({ savedAt: "now", records: [wrong] });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual([
      "records.0.status",
      "records.0.restart_count",
    ]);
  });
});
