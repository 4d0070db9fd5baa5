#!/usr/bin/env bash
# Installs what Sideband needs to build, test and run, from Debian's packages only.
# Skips apt entirely when everything is already installed.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git openssl ca-certificates curl
  libpoco-dev libboost-dev libboost-filesystem-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libpq-dev libssl-dev libsqlite3-dev libsystemd-dev
  libhttp-parser-dev libwslay-dev libseccomp-dev
  redis-server postgresql-15
  systemd dpkg-dev fakeroot file prometheus clang
  chromium nodejs
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
