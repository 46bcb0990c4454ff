// Fake Docker Engine 20.10, the POSTs that act: container start, stop, restart, pause, unpause
// (answers and messages as moby's daemon/start.go, stop.go, restart.go, pause.go, unpause.go and
// the router's 304 for "already so") and the dangling-image prune. Each request is recorded, so a
// test can assert exactly which non-GET requests the bridge made.
import type { FakeContainer } from "./fake-engine-model.js";
import type { Answer } from "./fake-engine-timing.js";

export interface ControlOps {
  container(nameOrId: string): Readonly<FakeContainer> | undefined;
  start(name: string): void;
  stop(name: string): void;
  restart(name: string): void;
  pause(name: string): void;
  unpause(name: string): void;
}

const NO_CONTENT: Answer = { status: 204, body: undefined };
const NOT_MODIFIED: Answer = { status: 304, body: undefined };

function conflict(message: string): Answer {
  return { status: 409, body: { message } };
}

/** The answer to a POST the fake serves, or undefined when the path is not one of these. */
export function controlAnswer(ops: ControlOps, path: string): Answer | undefined {
  if (path === "/images/prune")
    return { status: 200, body: { ImagesDeleted: null, SpaceReclaimed: 0 } };
  const m = /^\/containers\/([^/]+)\/(start|stop|restart|pause|unpause)$/.exec(path);
  if (!m) return undefined;
  const param = decodeURIComponent(m[1] ?? "");
  const c = ops.container(param);
  if (!c) return { status: 404, body: { message: `No such container: ${param}` } };
  switch (m[2]) {
    case "start":
      if (c.paused) return conflict("cannot start a paused container, try unpause instead");
      if (c.running && !c.restarting) return NOT_MODIFIED;
      ops.start(c.name);
      return NO_CONTENT;
    case "stop":
      if (!c.running) return NOT_MODIFIED;
      // Engine 20.10 stops a paused container too: kill, unpause, die, stop (seen in
      // test/e2e/bridge-control.test.ts).
      ops.stop(c.name);
      return NO_CONTENT;
    case "restart":
      ops.restart(c.name);
      return NO_CONTENT;
    case "pause":
      if (!c.running) return conflict(`Container ${c.id} is not running`);
      if (c.restarting)
        return conflict(`Container ${c.id} is restarting, wait until the container is running`);
      if (c.paused) return conflict(`Container ${c.id} is already paused`);
      ops.pause(c.name);
      return NO_CONTENT;
    default:
      if (!c.paused) return conflict(`Container ${c.id} is not paused`);
      ops.unpause(c.name);
      return NO_CONTENT;
  }
}
