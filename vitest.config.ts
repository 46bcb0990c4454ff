import { configDefaults, defineConfig } from "vitest/config";

// Three projects so that `npm test` runs everything while unit and integration files stay parallel
// and never pay for the real services; only the e2e projects start real services (dockerd, or a
// Podman service, each with its own mosquitto), and their files run one at a time because they
// share that one engine and broker.
export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Under CI a JSON report too, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: ".ci/results.json" }]]
      : ["default"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/e2e/**", "test/e2e-podman/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // The same scenarios' kit (test/e2e/) on a throwaway Podman service instead of dockerd.
          name: "e2e-podman",
          include: ["test/e2e-podman/**/*.test.ts"],
          globalSetup: ["test/e2e-podman/global-setup.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
