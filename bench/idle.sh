#!/usr/bin/env bash
# bench/idle.sh [WORKERS] [SECONDS]: the fixed cost of a deployment with a
# live source and no listener: CPU per second of the origin and of each
# worker (per-thread schedstat, ns), and the system calls of the origin and
# of one worker (strace -c over the same window). At small audiences this is
# what separates podium from the floor, which has no source and one process.
set -u
W=${1:-2}
S=${2:-20}
B=${BUILD:-build}
D=$(mktemp -d)
trap 'kill $FF $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
printf 'flush_ms = 1000\ndemo = off\n' > "$D/podium.conf"
$B/podium serve --listen 127.0.0.1:0 --data "$D/data" --config "$D/podium.conf" \
    --source-password idle --set workers="$W" > "$D/log" 2>&1 &
SP=$!
FF=
for _ in $(seq 1 50); do grep -q 'listening on' "$D/log" && break; sleep 0.1; done
PORT=$(grep -o 'listening on http://[0-9.:]*' "$D/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "idle.sh: podium did not start"; cat "$D/log"; exit 1; }
# The bench's source: 32 kbit/s Opus in 100 ms pages, in real time.
ffmpeg -hide_banner -nostdin -loglevel warning -re -f lavfi -i sine=f=440:sample_rate=48000 \
    -ac 1 -c:a libopus -b:a 32k -page_duration 100000 -f ogg -content_type audio/ogg \
    "icecast://source:idle@127.0.0.1:$PORT/live/idle.opus" > "$D/ffmpeg.log" 2>&1 &
FF=$!
sleep 3
PIDS="$SP $(pgrep -P $SP | tr '\n' ' ')"
ns() { local s=0 a; for t in /proc/$1/task/*; do read -r a _ < "$t/schedstat"; s=$((s + a)); done; echo $s; }
declare -A A
for p in $PIDS; do A[$p]=$(ns $p); done
sleep "$S"
total=0
for p in $PIDS; do
    d=$(( $(ns $p) - ${A[$p]} ))
    total=$((total + d))
    role=worker; [ "$p" = "$SP" ] && role=origin
    awk -v r=$role -v p=$p -v d=$d -v s=$S 'BEGIN{printf "%-6s pid %-7s %.3f ms of CPU a second\n", r, p, d/1e6/s}'
done
awk -v d=$total -v s=$S -v w=$W 'BEGIN{printf "total (origin + %s workers) %.3f ms of CPU a second\n", w, d/1e6/s}'
# Then the system calls, over a second window of the same length (strace
# slows what it traces, so it stays out of the CPU window above).
command -v strace >/dev/null || exit 0
ONE=$(pgrep -P $SP | head -1)
timeout "$S" strace -f -c -p "$SP" -o "$D/origin.strace" 2>/dev/null &
T1=$!
T2=
if [ -n "$ONE" ]; then timeout "$S" strace -c -p "$ONE" -o "$D/worker.strace" 2>/dev/null & T2=$!; fi
wait $T1 $T2 2>/dev/null
for f in origin worker; do
    [ -s "$D/$f.strace" ] || continue
    echo "system calls a second, $f:"
    awk -v s=$S '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {printf "  %-14s %.1f\n", $NF, $4/s}' "$D/$f.strace"
done
