// Hands each chunk of a body to a callback as it arrives. A Node stream (undici's body) is read
// with 'data' listeners: an async iterator would cost a promise and a microtask turn per chunk,
// and the engine flushes every event as its own chunk (healthcheck probes: three a second per
// container). Anything else iterable is read with for await.
import type { Readable } from "node:stream";
import { finished } from "node:stream";

function isReadable(body: unknown): body is Readable {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as Readable).on === "function" &&
    typeof (body as Readable).pause === "function"
  );
}

/** Resolves when the body ends; rejects when it fails, is aborted, or `onChunk` throws. */
export async function readChunks(
  body: AsyncIterable<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): Promise<void> {
  if (!isReadable(body)) {
    for await (const chunk of body) onChunk(chunk);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Uint8Array) => {
      try {
        onChunk(chunk);
      } catch (err: unknown) {
        body.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    body.on("data", onData);
    finished(body, (err) => {
      body.off("data", onData);
      if (err) reject(err);
      else resolve();
    });
  });
}
