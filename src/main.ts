#!/usr/bin/env node
// The executable. Settings for Node and V8 that must come before anything else is loaded, then the
// composition root (run.ts). Each was chosen by `npm run bench` (README, Performance):
// - The young generation stays at its first 1 MiB semi-space instead of growing to 16 MiB: the
//   bridge keeps little garbage alive, so the larger nursery only held memory (peak and steady
//   RSS about 10 MiB lower, CPU unchanged). A `--max-semi-space-size` given to node wins.
// - On x64 and arm64, WebAssembly is compiled by Liftoff only. undici's HTTP parser (llhttp) is
//   WebAssembly; V8's optimising compile of it at the first request took about 35 MiB for a
//   moment and 0.1 s of CPU for no measurable gain in parsing the engine's answers and events.
// - On Node 22 and later, compiled code is cached on disk (Node's own compile cache, in the
//   system's temp dir unless NODE_COMPILE_CACHE names one), so a restart compiles less.
import * as nodeModule from "node:module";
import { setFlagsFromString } from "node:v8";

/** A V8 flag given on the command line or in NODE_OPTIONS, in either spelling. */
function given(flag: string): boolean {
  const spellings = [flag, `--${flag.slice(2).replaceAll("-", "_")}`];
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  return args.some((a) => spellings.some((s) => a === s || a.startsWith(`${s}=`)));
}

// Measured on Node 20 and 24; a later Node (whose V8 may drop a flag) runs with its defaults.
const major = Number(process.versions.node.split(".")[0]);
if (major >= 20 && major <= 24) {
  if (!given("--max-semi-space-size")) setFlagsFromString("--semi-space-growth-factor=1");
  // Where Liftoff compiles everything undici's parser uses (SIMD included); elsewhere a function
  // Liftoff cannot compile would be fatal under this flag instead of going to TurboFan.
  if (process.arch === "x64" || process.arch === "arm64") setFlagsFromString("--liftoff-only");
}
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

await import("./run.js");
