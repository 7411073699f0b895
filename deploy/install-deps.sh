#!/usr/bin/env bash
# Installs every Debian package that building, running and testing canopy need.
# Idempotent: installs only what is missing. Works as root or through sudo.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
  librocksdb-dev libzstd-dev libsodium-dev libgit2-dev zlib1g-dev
  libcmocka-dev clang libclang-rt-dev clang-format
  rocksdb-tools beanstalkd plocate zstd procps jq
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
