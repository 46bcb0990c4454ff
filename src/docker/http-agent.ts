// undici's connection pool and its `request()`, without the rest of the package. undici's main
// entry also builds fetch, WebSocket, caches and cookies, and its cookies code touches the global
// Headers, which makes Node load and initialise its own bundled copy of undici as well. Importing
// just the Agent and the request API takes about a third of the time and 8 MiB less memory.
// undici's entry attaches `request()` to the Dispatcher prototype; done the same way here (the same
// prototype object, so loading the whole package too changes nothing). These paths are undici's
// internal layout, which is why package.json takes undici 7.30's patches only (`~7.30`).
import { createRequire } from "node:module";
import type * as Undici from "undici";

const require = createRequire(import.meta.url);
const Dispatcher = require("undici/lib/dispatcher/dispatcher.js") as typeof Undici.Dispatcher;
const requestApi = require("undici/lib/api/api-request.js") as Undici.Dispatcher["request"];
if (Dispatcher.prototype.request !== requestApi) Dispatcher.prototype.request = requestApi;

export const Agent = require("undici/lib/dispatcher/agent.js") as typeof Undici.Agent;
