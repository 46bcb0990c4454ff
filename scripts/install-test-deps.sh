#!/usr/bin/env bash
# Installs the system packages that the end-to-end tests need: a real Docker Engine (dockerd,
# containerd, runc), a static busybox to build the test image from, a real Mosquitto broker,
# Podman (4.3 on Debian 12) with what its rootful service needs here: runc (Debian's crun 1.8 fails
# on hybrid cgroups), slirp4netns, fuse-overlayfs and uidmap; and Debian's docker-registry (the
# distribution registry) for the image-update tests.
# Idempotent: does nothing (quietly) when every package is already installed.
set -euo pipefail

packages=(docker.io busybox-static mosquitto mosquitto-clients iproute2
  podman runc slirp4netns fuse-overlayfs uidmap docker-registry)

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "install-test-deps: missing ${missing[*]}; run as root to install them (e2e tests will be skipped)" >&2
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's packages would start their own daemons through invoke-rc.d where an init system runs;
# the tests start throwaway daemons of their own, so keep the packaged services from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() {
  if [[ "$created_policy" -eq 1 ]]; then
    rm -f "$policy"
  fi
}
trap cleanup EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-test-deps: done"
