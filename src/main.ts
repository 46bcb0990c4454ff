#!/usr/bin/env node
// The executable. Settings for Node and V8 that must come before anything else is loaded, then the
// composition root (run.ts). Each was chosen by `npm run bench` (README, Performance):
// - The young generation stays at its first 1 MiB semi-space instead of growing to 16 MiB: the
//   bridge keeps little garbage alive, so the larger nursery only held memory (peak and steady
//   RSS about 10 MiB lower, CPU unchanged). A `--max-semi-space-size` given to node wins.
// - WebAssembly stays in Liftoff, V8's baseline compiler: no tier-up to TurboFan. undici's HTTP
//   parser (llhttp) is WebAssembly; tiering it up at the first requests took 10 to 35 MiB and
//   0.1 s of CPU for no measurable gain in parsing the engine's answers and events. The two flags
//   are set by name: a flag set at run time does not bring its implications with it on Node 24
//   (`--liftoff-only` there changed nothing), and a function Liftoff cannot compile still goes to
//   TurboFan, where `--liftoff-only` would make it fatal.
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
  setFlagsFromString("--no-wasm-tier-up");
  setFlagsFromString("--no-wasm-dynamic-tiering");
}
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

await import("./run.js");
