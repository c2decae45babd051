#!/usr/bin/env bash
# bench/procs.sh TARGET [LISTENERS] [SECONDS] [SERVE ARGS...]: CPU and
# wake-ups per second of each server process under a storm of LISTENERS
# (1,000) over SECONDS (20) of steady state. TARGET: podium:WORKERS (an
# ffmpeg source in 100 ms pages, flush_ms 1000) or floor:PROCS (1 s cadence,
# ten pages a write). CPU from per-thread schedstat, wake-ups from
# voluntary_ctxt_switches. Extra arguments go to podium serve,
# e.g. --set source_read_ms=1000.
set -u
TARGET=${1:-podium:2}
N=${2:-1000}
S=${3:-20}
shift $(( $# < 3 ? $# : 3 ))
B=${BUILD:-build}
D=$(mktemp -d)
PORT=18131
SP= FF= ST=
trap 'kill $ST $FF $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
case $TARGET in
podium:*)
    printf 'flush_ms = 1000\nlisteners_max = 100000\ndemo = off\n' > "$D/podium.conf"
    $B/podium serve --listen 127.0.0.1:$PORT --data "$D/data" --config "$D/podium.conf" \
        --source-password procs --set workers="${TARGET#podium:}" "$@" > "$D/log" 2>&1 &
    SP=$!
    for _ in $(seq 1 50); do grep -q 'listening on' "$D/log" && break; sleep 0.1; done
    ffmpeg -hide_banner -nostdin -loglevel warning -re -f lavfi -i sine=f=440:sample_rate=48000 \
        -ac 1 -c:a libopus -b:a 32k -page_duration 100000 -f ogg -content_type audio/ogg \
        "icecast://source:procs@127.0.0.1:$PORT/live/procs.opus" > "$D/ffmpeg.log" 2>&1 &
    FF=$!
    sleep 3;;
floor:*)
    $B/bench/floor --listen 127.0.0.1:$PORT --cadence-ms 1000 --pages-per-write 10 \
        --procs "${TARGET#floor:}" > "$D/log" 2>&1 &
    SP=$!
    for _ in $(seq 1 50); do grep -q 'listening on' "$D/log" && break; sleep 0.1; done;;
*) echo "usage: bench/procs.sh podium:WORKERS|floor:PROCS [LISTENERS] [SECONDS] [ARGS...]"; exit 2;;
esac
PIDS="$SP $(pgrep -P $SP | tr '\n' ' ')"
$B/podium storm --target http://127.0.0.1:$PORT --mount /live/procs.opus --listeners "$N" \
    --arrival ramp:1000ms --duration $((S + 15))s > "$D/storm.log" 2>&1 &
ST=$!
sleep 8
snap() {
    local p t a
    for p in $PIDS; do
        t=0
        for f in /proc/$p/task/*/schedstat; do read -r a _ < "$f"; t=$((t + a)); done
        echo "$p $t $(awk '/^voluntary_ctxt/{print $2}' /proc/$p/status)"
    done
}
A=$(snap)
sleep "$S"
Z=$(snap)
paste <(echo "$A") <(echo "$Z") | awk -v s="$S" -v sp="$SP" '
    { cpu = ($5 - $2) / 1e6 / s; v = ($6 - $3) / s; tot += cpu
      printf "%-6s pid %-7s %6.2f ms of CPU a second, %4.1f wake-ups a second\n",
             ($1 == sp ? "first" : "child"), $1, cpu, v }
    END { printf "total %.2f ms of CPU a second\n", tot }'
