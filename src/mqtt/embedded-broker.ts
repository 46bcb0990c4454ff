// An in-process aedes broker, for users without one. Loopback only unless told otherwise.
import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  url: string;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(opts: {
  host: string;
  port: number;
  username?: string;
  password?: string;
}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  if (opts.username || opts.password) {
    broker.authenticate = (_client, username, password, done) => {
      const ok =
        username === opts.username && (password?.toString() ?? "") === (opts.password ?? "");
      if (ok) {
        done(null, true);
        return;
      }
      const err = Object.assign(new Error("bad user name or password"), { returnCode: 4 });
      done(err as never, false);
    };
  }
  const server: Server = createServer(broker.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
  } catch (err: unknown) {
    // Its heartbeat timer would keep the process (or a test) alive.
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `mqtt://${host}:${port}`,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
