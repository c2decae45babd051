#!/usr/bin/env bash
# fuzz-smoke.sh [SECONDS]: builds every libFuzzer target and runs each for a
# bounded time (default 30 s) on a copy of its seed corpus. Exit 1 on any
# crash, sanitizer report, timeout or out-of-memory; exit 2 when the build
# fails.
#
# Targets are found, not listed: every fuzz/fuzz_<name>.c that has a seed
# corpus fuzz/corpus/<name>/ is built as the CMake target fuzz_<name>
# (build-fuzz/fuzz/fuzz_<name>, see podium_fuzzer() in fuzz/CMakeLists.txt) and run
# on fuzz/corpus-run/<name>/ (git-ignored; the checked-in seeds are never
# written). fuzz/<name>.dict is passed when it exists. Crash artifacts land
# in fuzz/corpus-run/artifacts/.
set -euo pipefail

seconds="${1:-30}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
run_dir="$root/fuzz/corpus-run"
artifacts="$run_dir/artifacts"

names=()
for src in "$root"/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    base="$(basename "$src" .c)" # fuzz_http
    name="${base#fuzz_}"         # http
    if [ -d "$root/fuzz/corpus/$name" ]; then
        names+=("$name")
    else
        echo "fuzz-smoke: skipping $base: no seed corpus fuzz/corpus/$name/" >&2
    fi
done
if [ "${#names[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 2
fi

targets=()
for name in "${names[@]}"; do
    targets+=("fuzz_$name")
done

echo "fuzz-smoke: configuring $build"
CC=clang cmake -S "$root" -B "$build" -G Ninja -DPODIUM_FUZZ=ON >/dev/null || exit 2
ninja -C "$build" "${targets[@]}" || exit 2

mkdir -p "$artifacts"
failed=0
for name in "${names[@]}"; do
    corpus="$run_dir/$name"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp -R "$root/fuzz/corpus/$name/." "$corpus/"

    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$artifacts/$name-")
    if [ -f "$root/fuzz/$name.dict" ]; then
        args+=(-dict="$root/fuzz/$name.dict")
    fi

    echo "fuzz-smoke: fuzz_$name for ${seconds}s"
    log="$run_dir/$name.log"
    if "$build/fuzz/fuzz_$name" "${args[@]}" "$corpus" >"$log" 2>&1; then
        execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
        echo "fuzz-smoke: fuzz_$name ok, ${execs:-?} execs, corpus $(ls "$corpus" | wc -l) files"
    else
        echo "fuzz-smoke: fuzz_$name FAILED (log: $log)" >&2
        tail -n 40 "$log" >&2
        failed=1
    fi
done
exit "$failed"
