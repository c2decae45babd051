#!/usr/bin/env bash
# demo.sh: install what is missing, build, and start the server with the
# embedded default (demo mount with a test-signal source, data in
# ./podium-data). Extra arguments go to `podium serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build podium >/dev/null
echo "demo: open http://127.0.0.1:8000/ or run: ffplay http://127.0.0.1:8000/live/demo.opus"
exec build/podium serve "$@"
