// The README's Performance table, regenerated from bench results rather than typed by hand: one
// column per results file (e.g. Node 20's latest.json and Node 24's node24.json), one row per
// figure that has a target or is part of the floor.
//
//   node .bench/bench/readme-table.js bench/results/latest.json bench/results/node24.json
//   node .bench/bench/readme-table.js --write README.md bench/results/latest.json bench/results/node24.json
//
// With --write, the table replaces what is between the README's bench-table markers.
import { readFileSync, writeFileSync } from "node:fs";
import type { Figure } from "./context.js";
import { format, formatMet, formatTarget, formatVsFloor } from "./report.js";

interface Results {
  command: string;
  date: string;
  commit: string;
  uncommittedChangesInSrc: boolean;
  durationSeconds: number;
  machine: { cpu: string; cores: number; loadAverageAtStart: number[] };
  loadAverageAtEnd: number[];
  node: string;
  engine: string;
  figures: Figure[];
}

const START = "<!-- bench-table:start -->";
const END = "<!-- bench-table:end -->";

const keyOf = (f: Figure) => `${f.scenario} / ${f.name}`;

function cell(f: Figure | undefined): string {
  if (!f) return "not run";
  const parts = [format(f.value, f.unit)];
  const vs = formatVsFloor(f);
  if (vs) parts.push(`floor ${vs}`);
  const met = formatMet(f);
  if (met) parts.push(met === "met" ? "met" : "**missed**");
  return parts.join("; ");
}

export function readmeTable(runs: Results[]): string {
  const rows: Figure[] = [];
  const seen = new Set<string>();
  for (const run of runs) {
    for (const f of run.figures) {
      if (f.scenario !== "floor" && f.target === undefined) continue;
      if (seen.has(keyOf(f))) continue;
      seen.add(keyOf(f));
      rows.push(f);
    }
  }
  const head = `| figure | target | ${runs.map((r) => `Node ${r.node}`).join(" | ")} |`;
  const rule = `|---|---|${runs.map(() => "---|").join("")}`;
  const body = rows.map((f) => {
    const target = formatTarget(f);
    const cells = runs.map((r) => cell(r.figures.find((x) => keyOf(x) === keyOf(f))));
    return `| ${f.scenario}: ${f.name} | ${target} | ${cells.join(" | ")} |`;
  });
  const about = runs.map((r) => {
    const partial = r.command.includes("--only") || r.command.includes("--quick");
    return `- Node ${r.node}: \`${r.command}\`, ${r.date.slice(0, 16).replace("T", " ")} UTC, commit ${r.commit}${r.uncommittedChangesInSrc ? " (with uncommitted changes in src/)" : ""}, ${r.durationSeconds} s${partial ? " (a partial run)" : ""}; ${r.machine.cpu}, ${r.machine.cores} cores, load average ${r.machine.loadAverageAtStart.join(" ")} at start, ${r.loadAverageAtEnd.join(" ")} at end; ${r.engine}.`;
  });
  return [head, rule, ...body, "", ...about].join("\n");
}

function main(argv: string[]): void {
  const writeAt = argv.indexOf("--write");
  const target = writeAt >= 0 ? argv[writeAt + 1] : undefined;
  const files = argv.filter((a, i) => a !== "--write" && !(writeAt >= 0 && i === writeAt + 1));
  if (files.length === 0) {
    process.stderr.write("usage: readme-table.js [--write README.md] RESULTS.json...\n");
    process.exit(2);
  }
  const table = readmeTable(files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Results));
  if (!target) {
    process.stdout.write(`${table}\n`);
    return;
  }
  const text = readFileSync(target, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${target} has no ${START} ... ${END} markers`);
  writeFileSync(target, `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`);
  process.stdout.write(`${target}: table rewritten from ${files.join(", ")}\n`);
}

main(process.argv.slice(2));
