#!/usr/bin/env bash
# deps.sh [build|test|bench]: installs the Debian packages Podium needs that
# are missing, and nothing else. Safe to run again; quiet when all is there.
set -euo pipefail
what=${1:-build}

build=(gcc libc6-dev make cmake ninja-build pkg-config libogg-dev libopus-dev libsqlite3-dev libssl-dev ca-certificates)
test=(ffmpeg python3 clang libclang-rt-14-dev curl procps chromium icecast2)
bench=(liburing-dev)

want=("${build[@]}")
case "$what" in
    build) ;;
    test) want+=("${test[@]}") ;;
    bench) want+=("${test[@]}" "${bench[@]}") ;;
    *) echo "usage: deps.sh [build|test|bench]" >&2; exit 2 ;;
esac
# The browser test (tests/browser) needs node and npm. A node already on the
# machine (from Debian or elsewhere, e.g. NodeSource, which bundles npm) is
# used as it is: Debian's nodejs is only wanted when there is no node at all.
if [ "$what" != build ]; then
    if ! command -v node >/dev/null; then want+=(nodejs npm)
    elif ! command -v npm >/dev/null; then want+=(npm); fi
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
