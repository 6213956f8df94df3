#!/usr/bin/env bash
# operator_tty.sh: a robot the host cannot reset lies fallen at an episode's start
# (spinal.imitate.start_in_place, as quadruped_finetune and quadruped_command run it over udp):
# on a terminal the operator is asked on stderr to stand it up, Enter re-arms the session and
# reads the robot again (asked again while it is still down), q stops the run with a message;
# without a terminal nobody is asked and the run stops saying so. The robot here is a stand-in
# plant whose trunk height is scripted, so the test is the terminal path itself.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ]; then echo "FAIL: no python3 to drive a pseudo-terminal"; exit 1; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# the robot: each read gives the next trunk height (the last repeats); rearms counted
cat >"$WORK/episode.lua" <<'EOF'
local imitate = require "spinal.imitate"
local heights, reads, rearms = { 0.08, 0.10, 0.28 }, 0, 0
local plant = { backend = "udp", can_reset = false }
function plant:read()
  reads = reads + 1
  local x = { 0, 0, heights[math.min(reads, #heights)], 1, 0, 0, 0 }
  for i = 8, 37 do x[i] = 0 end
  return x
end
function plant:rearm() rearms = rearms + 1 end
local s = imitate.start_in_place(plant, function(w) return w[3] < 0.15 end, 12)
print(("episode starts standing at %.2f m after %d rearms"):format(s[3], rearms))
EOF

# no terminal: nobody is asked
if "$BIN" "$WORK/episode.lua" </dev/null >"$WORK/notty.out" 2>&1; then
  echo "FAIL: a fallen robot without a terminal did not stop the run"; cat "$WORK/notty.out"; exit 1
fi
grep -q "the robot is down (trunk at 0.08 m) and the host cannot reset it (udp) and there is no terminal" \
  "$WORK/notty.out" || { echo "FAIL: the stop without a terminal:"; cat "$WORK/notty.out"; exit 1; }
grep -q "stand it up, then press Enter" "$WORK/notty.out" &&
  { echo "FAIL: asked with nobody at a terminal"; exit 1; }
echo "ok   without a terminal the run stops, asking nobody"

"$PY" - "$BIN" "$SRC" "$WORK/episode.lua" <<'PYEOF'
import os, sys

BIN, SRC, SCRIPT = sys.argv[1:4]
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
from pty_session import Tty
from repl_pipe import check, done

ASK = r"the robot is down \(trunk at %s m\) and the host cannot reset it \(udp\): stand it up, then press Enter \(q and Enter stops the run\) $"

s = Tty([BIN, SCRIPT])
check(s.expect(ASK % "0.08"), "a fallen robot: the operator is asked to stand it up")
s.send("\r")
check(s.expect(ASK % "0.10"), "still down after Enter: asked again")
s.send("\r")
check(s.expect(r"episode starts standing at 0.28 m after 3 rearms"),
      "standing after the second Enter: the episode starts there (a rearm per read of the robot)")
check(s.close() == 0, "the script goes on to exit 0")

s = Tty([BIN, SCRIPT])
check(s.expect(ASK % "0.08"), "a second run is asked too")
s.send("q\r")
check(s.expect(r"the robot is down \(trunk at 0.08 m\) and the host cannot reset it \(udp\): stopped by the operator"),
      "q stops the run, saying why")
check(s.close() != 0, "stopped by the operator: a non-zero exit")

done()
PYEOF
