#!/usr/bin/env bash
# bridge_hostile.sh: a hostile peer on loopback (tests/tools/hostile_peer.py) against two
# `spinal bridge` processes serving robots/rc_car.lua in lockstep: an unbounded watchdog request,
# NaN/Inf and out-of-limit commands, a frame far ahead, GOODBYE; then Ctrl-C stops a bridge
# cleanly (exit 0). About 2 s.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=$(command -v python3 || echo /usr/bin/python3)
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
# rc_car with a 0.5 s watchdog limit, not its 0.1 s: the peer and the REPL below check that nothing
# trips, and at load 4 on 2 cores a 0.1 s gap between two of their commands came one run in four
cat >"$tmp/rc_car.lua" <<LUA
local r = dofile "$SRC/robots/rc_car.lua"
r.safety.watchdog = 0.5
return r
LUA
start_bridge() {  # name: a bridge on a free port, its port in $tmp/NAME.port
  "$BIN" bridge "$tmp/rc_car.lua" --listen 127.0.0.1:0 >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pids+=($!)
  eval "$1_pid=$!"
  wait_for "$tmp/$1.out" "serving" || fail "bridge $1 did not start"
  sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$1.out" >"$tmp/$1.port"
}
start_bridge a
start_bridge b

"$PY" "$SRC/tests/tools/hostile_peer.py" "$(cat "$tmp/a.port")" "$(cat "$tmp/b.port")" 500 \
  >"$tmp/peer.out" 2>&1 || fail "peer checks failed: $(cat "$tmp/peer.out")"
cat "$tmp/peer.out"

# the bridge said what it did, and the goodbye left no watchdog trip
grep -q "the host asked for 4.29497e+06 s, bounded by the robot's limit" "$tmp/a.err" \
  || fail "no bounded-watchdog message"
grep -q "non-finite commands replaced by the safe command" "$tmp/a.err" || fail "no rejection message"
grep -q "ended by the host (goodbye)" "$tmp/a.err" || fail "no goodbye message"
if grep -q "watchdog tripped" "$tmp/a.err"; then fail "a goodbye tripped the watchdog"; fi

# telemetry aimed at the plant's own port is warned about; the default port is not the bridge's
"$BIN" -e '
  local robot = require("spinal.robot").load(arg[1])
  local plant = assert(robot:open("udp://127.0.0.1:" .. arg[2]))
  local loop = require("spinal.loop").new(plant, { controller = robot.controller,
    reference = robot.reference, safety = robot.safety, rate = robot.rate })
  loop:start()
  loop:telemetry { port = tonumber(arg[2]) }
  loop:telemetry {}
  loop:close()
  plant:close()' "$SRC/robots/rc_car.lua" "$(cat "$tmp/b.port")" >"$tmp/tm.out" 2>"$tmp/tm.err" \
  || fail "telemetry script: $(cat "$tmp/tm.err")"
[[ $(grep -c "warning: telemetry port $(cat "$tmp/b.port") is the plant's" "$tmp/tm.err") -eq 1 ]] \
  || fail "expected one telemetry warning, got: $(cat "$tmp/tm.err")"
echo "ok telemetry into the plant's port warned once"

# a clean REPL exit (end of input) says goodbye: the robot stops safe, its watchdog does not trip
start_bridge c
printf 'loop:resume()\nsleep(0.3)\n' | "$BIN" repl "$tmp/rc_car.lua" \
  --hal "udp://127.0.0.1:$(cat "$tmp/c.port")" >"$tmp/repl.out" 2>&1 || fail "repl over udp failed"
sleep 1.5  # three of the robot's watchdog periods
grep -q "session 1 ended by the host (goodbye)" "$tmp/c.err" || fail "no goodbye from the REPL"
if grep -q "watchdog tripped" "$tmp/c.err"; then fail "a clean REPL exit tripped the watchdog"; fi
echo "ok a clean REPL exit ends the robot's session without a watchdog trip"

# Ctrl-C: a clean stop with the counters, exit status 0
kill -INT "$a_pid"
rc=0
wait "$a_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "bridge stopped by Ctrl-C exited $rc"
grep -q "stopped (Ctrl-C) after .* 2 rejected, 3 limited" "$tmp/a.err" || fail "no clean stop line"
grep -q "suspect 1" "$tmp/a.err" || fail "the far-ahead frame was not counted as suspect"
if grep -q "interrupted" "$tmp/a.err"; then fail "Ctrl-C reported as an interruption"; fi
cat "$tmp/a.err"
echo "bridge_hostile: ok"
