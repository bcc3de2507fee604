#!/bin/bash
# Installs everything shoal needs on Debian 12, as root: the build toolchain,
# the optional transports' libraries, the baselines the benchmarks compare
# against, the training data set, and (for the Soft-RoCE guest tests) qemu and
# an unpacked guest kernel. Idempotent.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: run as root (sudo $0)" >&2
  exit 1
fi
pkgs=(cmake ninja-build g++ pkg-config git
      libibverbs-dev librdmacm-dev ibverbs-providers libucx-dev libhwloc-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      openmpi-bin libopenmpi-dev libgloo-dev
      zlib1g-dev dataset-fashion-mnist
      clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# qemu, busybox, perftest and the guest kernel for tests/rxe (never installs
# a kernel on the host).
if [ "${SHOAL_SKIP_RXE_SETUP:-0}" != 1 ]; then
  bash "$HERE/tests/rxe/setup.sh"
fi
echo "install-deps: done"
