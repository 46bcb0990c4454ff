// Prints the plain closing lines of a CI run from vitest's JSON reports: one line per test run
// (one per Node version), then the total over all of them, which is the line CI reads.
//
//   node scripts/ci-summary.mjs "Node v20.20.2, all suites" .ci/results-node20.json 0 \
//                               "Node v24.22.3, unit and integration" .ci/results-node24.json 1
//
// Each run is a label, its report and vitest's exit status. "failed" counts failed tests, plus one
// for each test file that failed outside any test (it did not load, or a hook threw), for each run
// that exited non-zero with no failure in its report (an unhandled error, which the JSON report
// does not record), and for each run that left no readable report: so the closing line is never
// all green when a run was red. Exits 1 when anything failed, 2 on bad arguments.
import { readFileSync } from "node:fs";

/** Counts for one run, from its report file (or the reason there is none). */
function countsOf(file, status) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const reason = err instanceof Error && "code" in err ? err.code : "unreadable";
    return { passed: 0, failed: 1, skipped: 0, notes: [`no report at ${file} (${reason})`] };
  }
  const notes = [];
  const files = Array.isArray(report.testResults) ? report.testResults : [];
  const brokenFiles = files.filter(
    (f) => f.status === "failed" && !(f.assertionResults ?? []).some((a) => a.status === "failed"),
  ).length;
  if (brokenFiles > 0) notes.push(`${brokenFiles} test file(s) failed outside any test`);
  const testsFailed = Number(report.numFailedTests ?? 0);
  let failed = testsFailed + brokenFiles;
  if (failed === 0 && (report.success === false || status !== "0")) {
    notes.push(
      `vitest exited ${status} with no failed test: errors outside the tests, see the log`,
    );
    failed += 1;
  }
  return {
    passed: Number(report.numPassedTests ?? 0),
    failed,
    skipped: Number(report.numPendingTests ?? 0) + Number(report.numTodoTests ?? 0),
    notes,
  };
}

const line = (c) => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 3 !== 0) {
  console.error(
    "usage: ci-summary.mjs LABEL REPORT.json EXIT_STATUS [LABEL REPORT.json EXIT_STATUS ...]",
  );
  process.exit(2);
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (let i = 0; i < args.length; i += 3) {
  const counts = countsOf(args[i + 1], args[i + 2]);
  const notes = counts.notes.length > 0 ? ` (${counts.notes.join("; ")})` : "";
  console.log(`${args[i]}: ${line(counts)}${notes}`);
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}
console.log(line(total));
process.exit(total.failed > 0 ? 1 : 0);
