#!/usr/bin/env bash
# test.sh: install what is missing, build, and run every test: unit and
# integration tests (warnings as errors), the same again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a bounded fuzz smoke.
# FUZZ_SECONDS (default 20) bounds each fuzzer; SKIP_SANITIZE=1 skips the
# sanitizer pass (quick local runs only; CI runs everything).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

echo "== build (-Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPODIUM_WERROR=ON >/dev/null
ninja -C build
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs"

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
    echo "== build (ASan + UBSan)"
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPODIUM_WERROR=ON \
        -DPODIUM_SANITIZE=ON >/dev/null
    ninja -C build-asan
    echo "== tests under ASan + UBSan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi

echo "== fuzz smoke"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-20}"
echo "== all tests passed"
