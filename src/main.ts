#!/usr/bin/env node
// The executable. Settings for Node and V8 that must come before anything else is loaded, then the
// composition root (run.ts). Each was chosen by `npm run bench` (README, Performance):
// - The young generation stays at its first 1 MiB semi-space instead of growing to 16 MiB: the
//   bridge keeps little garbage alive, so the larger nursery only held memory (peak and steady
//   RSS about 10 MiB lower, CPU unchanged). A `--max-semi-space-size` in NODE_OPTIONS wins.
// - WebAssembly is compiled by Liftoff only. undici's HTTP parser (llhttp) is WebAssembly; V8's
//   optimising compile of it at the first request took about 35 MiB for a moment and 0.1 s of CPU
//   for no measurable gain in parsing the engine's answers and event stream.
// - On Node 22 and later, compiled code is cached on disk (Node's own compile cache, in the
//   system's temp dir unless NODE_COMPILE_CACHE names one), so a restart compiles less.
import * as nodeModule from "node:module";
import { setFlagsFromString } from "node:v8";

if (!process.env.NODE_OPTIONS?.includes("--max-semi-space-size")) {
  setFlagsFromString("--semi-space-growth-factor=1");
}
setFlagsFromString("--liftoff-only");
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

await import("./run.js");
