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

/**
 * Whether `value` reaches a target written as "< 1", "<= 3", "> 50,000", "== 0", or against the
 * floor as "<= floor + 0.15" (undefined when the floor was not measured).
 */
export function meets(
  value: number | null,
  target: string | undefined,
  floor?: number,
): boolean | undefined {
  if (target === undefined || value === null || Number.isNaN(value)) return undefined;
  const m = /^(<=|>=|<|>|==)\s*(floor\s*\+\s*)?([\d,.]+)/.exec(target);
  if (!m?.[1] || !m[3]) return undefined;
  if (m[2] !== undefined && floor === undefined) return undefined;
  const t = Number(m[3].replace(/,/g, "")) + (m[2] !== undefined ? (floor ?? 0) : 0);
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

/** Fills in `met` and `vsFloor`, and rounds values to 6 significant digits for the JSON. */
export function settle(figures: Figure[]): void {
  for (const f of figures) {
    const met = meets(f.value, f.target, f.floor);
    if (met !== undefined) f.met = met;
    if (f.value !== null && f.floor !== undefined) f.vsFloor = vsFloor(f.value, f.floor);
    if (f.value !== null && !Number.isInteger(f.value)) f.value = Number(f.value.toPrecision(6));
    if (f.floor !== undefined && !Number.isInteger(f.floor)) {
      f.floor = Number(f.floor.toPrecision(6));
    }
  }
}

/** value - floor, and value / floor (null when the floor is 0). */
export function vsFloor(value: number, floor: number): NonNullable<Figure["vsFloor"]> {
  return {
    difference: Number((value - floor).toPrecision(6)),
    ratio: floor === 0 ? null : Number((value / floor).toPrecision(4)),
  };
}

/** "+0.74 s (8.20x)": how far above the floor a figure is. */
export function formatVsFloor(f: Figure): string {
  if (f.value === null || f.floor === undefined) return "";
  const v = vsFloor(f.value, f.floor);
  const d = `${v.difference >= 0 ? "+" : ""}${format(v.difference, f.unit)}`;
  return v.ratio === null ? d : `${d} (${v.ratio.toFixed(2)}x)`;
}

/** The target with its unit and where it comes from: "<= floor + 0.15 s (#18)". */
export function formatTarget(f: Figure): string {
  if (!f.target) return "";
  return `${f.target} ${f.unit}${f.targetFrom === "#18" ? " (#18)" : ""}`;
}

export function formatMet(f: Figure): string {
  return f.met === undefined ? "" : f.met ? "met" : "MISSED";
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
    f.floor === undefined ? "" : format(f.floor, f.unit),
    formatVsFloor(f),
    formatTarget(f),
    formatMet(f),
  ]);
  const head = ["scenario", "figure", "value", "floor", "vs floor", "target", "met"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const out = [
    line(head),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ];
  const notes = figures
    .filter((f) => f.note)
    .map((f) => `- ${f.scenario} / ${f.name} [${f.samples}; ${f.setup}]: ${f.note}`);
  return [...out, "", ...notes].join("\n");
}

export function writeJson(path: string, body: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
}
