#!/usr/bin/env bash
# bridge_faults.sh: `spinal bridge` driven over loopback UDP through a fault proxy
# (tests/tools/udp_fault_proxy.py: dropped, delayed, duplicated, reordered and corrupted packets
# both ways). The host (tests/tools/bridge_client.lua) runs a real-time rollout; the proxy then
# blackholes the host's commands, so the bridge's watchdog must fire within its time and apply
# the safe command (reported in the states); then the bridge is killed, so the host's safety
# watchdog must stop the loop with every tick logged. Also: a host aimed at nobody times out
# naming the address. About 6 s.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=$(command -v python3 || echo /usr/bin/python3)
WATCHDOG=0.15
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]

# a missing robot: configure times out with the address in the message
msg=$("$BIN" -e 'print(select(2, require("spinal.hal").open("udp://127.0.0.1:9", { timeout = 0.2 })))')
grep -q "no CONFIG from udp://127.0.0.1:9 within 0.2 s" <<<"$msg" || fail "timeout message: $msg"
echo "ok missing robot: $msg"

# the robot: a car model served in real time at 100 Hz, safe command (0, 0)
"$BIN" bridge --model unicycle_accel --rate 100 --listen 127.0.0.1:0 --realtime \
  --watchdog $WATCHDOG --safe 0,0 >"$tmp/bridge.out" 2>"$tmp/bridge.err" &
bridge=$!
pids+=($bridge)
wait_for "$tmp/bridge.out" "serving" || fail "bridge did not start"
bport=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/bridge.out")
[[ -n $bport ]] || fail "no port in: $(cat "$tmp/bridge.out")"

# the damage: 3% each of drops, corruption, duplicates, 15 ms delays and reorders, both ways
"$PY" "$SRC/tests/tools/udp_fault_proxy.py" --listen 127.0.0.1:0 --target "127.0.0.1:$bport" \
  --drop 0.03 --corrupt 0.03 --dup 0.03 --delay 0.03:15 --reorder 0.03 --seed 7 \
  --port-file "$tmp/proxy.port" 2>"$tmp/proxy.err" &
proxy=$!
pids+=($proxy)
for _ in $(seq 100); do [[ -s $tmp/proxy.port ]] && break; sleep 0.05; done
pport=$(cat "$tmp/proxy.port" 2>/dev/null) || fail "proxy did not start"

# the host
"$BIN" "$SRC/tests/tools/bridge_client.lua" "udp://127.0.0.1:$pport" >"$tmp/client.out" 2>&1 &
client=$!
pids+=($client)
wait_for "$tmp/client.out" "client: connected" || fail "client did not connect"

# 2 s of faulty traffic, then the commands stop reaching the robot, then the robot dies
sleep 2
kill -0 $bridge 2>/dev/null || fail "the bridge died under faulty traffic"
kill -USR1 $proxy
sleep 1
kill -0 $bridge 2>/dev/null || fail "the bridge died"
{ kill -9 $bridge; wait $bridge; } 2>/dev/null || true
t0=$(date +%s.%N)
wait $client || fail "client checks failed"
t1=$(date +%s.%N)
cat "$tmp/client.out"

# the host noticed within its watchdog (0.25 s) plus scheduling slack
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1.0) }' || fail "host took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s to stop"

# the bridge's watchdog fired once, within its time (checked every 1 ms; 0.1 s of slack for a
# loaded machine), and applied the safe command
cat "$tmp/bridge.err"
trips=$(grep -c "watchdog tripped" "$tmp/bridge.err" || true)
[[ $trips -eq 1 ]] || fail "expected one watchdog trip on the bridge, got $trips"
silence=$(sed -n 's/.*watchdog tripped after \([0-9.]*\) s.*/\1/p' "$tmp/bridge.err")
awk -v s="$silence" -v w=$WATCHDOG 'BEGIN { exit !(s >= w && s < w + 0.1) }' \
  || fail "bridge watchdog fired after $silence s (limit $WATCHDOG s)"
grep -q "applying the safe command (0, 0)" "$tmp/bridge.err" || fail "no safe command on the bridge"
echo "ok bridge watchdog after $silence s"

kill $proxy
wait $proxy 2>/dev/null || true
cat "$tmp/proxy.err"
echo "bridge_faults: ok"
