// The results: a table on stdout and bench/results/latest.json with the machine, Node's version,
// the date, and every figure with its unit and sample size.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname } from "node:path";
import type { Figure } from "./context.js";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  loadAverageAtStart: number[];
}

export function machine(kernel: string, loadAtStart: number[]): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel,
    loadAverageAtStart: loadAtStart.map((l) => Math.round(l * 100) / 100),
  };
}

/** Whether `value` reaches a target written as "< 1", "<= 3", "> 50,000" or "== 0". */
export function meets(value: number | null, target: string | undefined): boolean | undefined {
  if (target === undefined || value === null || Number.isNaN(value)) return undefined;
  const m = /^(<=|>=|<|>|==)\s*([\d,.]+)/.exec(target);
  if (!m?.[1] || !m[2]) return undefined;
  const t = Number(m[2].replace(/,/g, ""));
  switch (m[1]) {
    case "<":
      return value < t;
    case "<=":
      return value <= t;
    case ">":
      return value > t;
    case ">=":
      return value >= t;
    default:
      return value === t;
  }
}

export function format(value: number | null, unit: string): string {
  if (value === null || Number.isNaN(value)) return "n/a";
  const abs = Math.abs(value);
  const digits = Number.isInteger(value)
    ? 0
    : abs >= 1000
      ? 0
      : abs >= 100
        ? 1
        : abs >= 1
          ? 2
          : abs >= 0.01
            ? 3
            : 4;
  return `${value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
}

export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.scenario,
    f.name,
    format(f.value, f.unit),
    f.target ? `${f.target} ${f.met === undefined ? "" : f.met ? "(met)" : "(MISSED)"}`.trim() : "",
    String(f.samples),
    f.setup,
  ]);
  const head = ["scenario", "figure", "value", "target", "sample", "setup"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const out = [
    line(head),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ];
  const notes = figures.filter((f) => f.note).map((f) => `- ${f.scenario} / ${f.name}: ${f.note}`);
  return [...out, "", ...notes].join("\n");
}

export function writeJson(path: string, body: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
}
