// Rewrites the README's configuration reference and config/config.example.yaml from the schema.
// `npm run docs` builds first: this imports the compiled generator from dist/.
import { readFileSync, writeFileSync } from "node:fs";
import { exampleConfigYaml, withConfigReference } from "../dist/config/docs.js";

const readme = new URL("../README.md", import.meta.url);
const example = new URL("../config/config.example.yaml", import.meta.url);

writeFileSync(readme, withConfigReference(readFileSync(readme, "utf8")));
writeFileSync(example, exampleConfigYaml());
process.stdout.write(
  "updated README.md (configuration reference) and config/config.example.yaml\n",
);
