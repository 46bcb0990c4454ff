// Figures of other bridges, measured outside this bench (no peer runs here), kept in the results
// so a reader can compare. #18's fastest peer gives the end-to-end latency target (1.50 ms p50);
// the others are from an earlier side-by-side run on the same machine.
export const PEERS = [
  {
    name: "fastest peer in #18 (skullydazed/docker2mqtt, a Python script driving the docker CLI)",
    source:
      "issue #18's table: same machine, real dockerd 20.10, Mosquitto, 50 containers (two with a 1 s healthcheck), two rounds, medians; not measured by this bench",
    latency: "1.50 / 2.20 ms (p50 / p90)",
    burstTail: "1.9 ms",
    startup50: "0.245 s, 101 messages, 27.5 kB",
    idleCpu: "0.145 CPU s in 60 s (script + CLI child)",
    peakRss: "54.6 MiB (28 + 26 CLI child)",
    steadyRss: "54.6 MiB",
  },
  {
    name: "best event-driven peer (335-line Python script)",
    latency: "1.8 / 3.5 ms",
    burstTail: "0.8 ms",
    startup50: "0.13 s, 101 messages",
    idleCpu: "0.03%",
    peakRss: "48 MB",
  },
  {
    name: "most-used Python bridge",
    latency: "348 / 637 ms",
    burstTail: "7.1 s",
    startup50: "0.85 s, 1,180 messages",
    idleCpu: "0.13%",
    peakRss: "52 MB",
  },
  {
    name: "most-used TypeScript bridge",
    latency: "2,022 / 2,065 ms",
    burstTail: "2.2 s",
    startup50: "1.35 s, 952 messages",
    idleCpu: "0.15%",
    peakRss: "116 MB",
  },
];
