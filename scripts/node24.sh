#!/usr/bin/env bash
# Prints the path of the Node 24 binary CI tests on (and the Docker image is built on), installing
# it first if needed: scripts/install-node.sh does the work (pinned version and sha512, cached in
# .ci/node/); this only turns its bin directory into the executable's path, for
#   npm run bench -- --node=$(bash scripts/node24.sh)
set -euo pipefail
bin="$(bash "$(dirname "$0")/install-node.sh" | tail -n 1)"
echo "$bin/node"
