#!/usr/bin/env bash
# bench/kmem.sh [N]: kernel memory per listener: slab + TCP buffer pages before and with N listeners
# (server and storm on this machine: both ends' sockets are counted, so the
# per-connection figure covers a server socket and a client socket).
set -u
N=${1:-20000}
B=${BUILD:-build}
D=$(mktemp -d)
$B/podium serve --listen 127.0.0.1:0 --data $D/data --set workers=2 > $D/log 2>&1 &
SP=$!
sleep 1.5
PORT=$(grep -o 'listening on http://[0-9.:]*' $D/log | sed 's/.*://')
# Slab caches a TCP connection's socket uses (not dentries or ext4 inodes,
# which other work on the machine moves): bytes = active objects x size.
snap() { echo "$(awk '$1=="TCP"||$1=="sock_inode_cache"||$1=="eventpoll_epi"||$1=="filp"||$1=="tcp_bind_bucket"||$1=="skbuff_head_cache"||$1=="kmalloc-1k"||$1=="kmalloc-512"{s+=$2*$4} END{print int(s/1024)}' /proc/slabinfo) $(awk '/^TCP:/{print $NF}' /proc/net/sockstat) $(awk '/^TCP:/{for(i=1;i<=NF;i++) if($i=="inuse") print $(i+1)}' /proc/net/sockstat)"; }
read S0 M0 U0 <<< "$(snap)"
$B/podium storm --target http://127.0.0.1:$PORT --mount /live/demo.opus --listeners $N --arrival ramp:10s --duration 25s --sources 127.0.0.2-127.0.0.9 --quiet --json $D/s.json > $D/storm.out 2>&1 &
ST=$!
sleep 20
read S1 M1 U1 <<< "$(snap)"
wait $ST
kill $SP; wait $SP 2>/dev/null
python3 - "$N" "$S0" "$M0" "$U0" "$S1" "$M1" "$U1" <<'PY'
import sys
n,s0,m0,u0,s1,m1,u1=map(int,sys.argv[1:])
socks=u1-u0
print(f"N={n}: TCP sockets in use +{socks}; slab +{(s1-s0)/1024:.1f} MiB; TCP buffer pages +{m1-m0} ({(m1-m0)*4/1024:.1f} MiB)")
print(f"per connection (server + client socket): slab {(s1-s0)/n:.2f} KiB, buffers {(m1-m0)*4/n:.2f} KiB, total {((s1-s0)+(m1-m0)*4)/n:.2f} KiB")
PY
grep -E "joined|stalls" $D/storm.out | head -2
rm -rf $D
