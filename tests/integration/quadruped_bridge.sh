#!/usr/bin/env bash
# quadruped_bridge.sh: the quadruped over loopback UDP with its low-level controller on the robot
# side. `spinal bridge robots/quadruped_joint.lua` serves the mujoco plant (joint PD at 1 kHz
# inside it) in real time; the host (a udp plant) sends 50 Hz joint targets: the robot stands on
# the robot-side PD; the host loop's e-stop (a fault, forwarded as ESTOP) makes the robot sit down
# (the plant's safe mode), slowly.
# With the walking controller built, the same for robots/quadruped.lua: the host's (v, w) walk it
# forward. About 6 s.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
# serve ROBOT NAME: start a real-time bridge for robots/ROBOT, its port in $port. Its watchdog is
# 0.5 s, not the robot file's 0.1 s: at load 3-4 on 2 cores the host's 50 Hz loop went 0.1 s
# without a command one run in three (the watchdog itself: test_backend_udp, bridge_faults.sh)
serve() {
  "$BIN" bridge "$SRC/robots/$1" --listen 127.0.0.1:0 --realtime --watchdog 0.5 \
    >"$tmp/$2.out" 2>"$tmp/$2.err" &
  pids+=($!)
  wait_for "$tmp/$2.out" "serving" 10 || fail "bridge for $1 did not start"
  grep -q "mujoco plant" "$tmp/$2.out" || fail "the bridge did not pick the mujoco plant"
  port=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$2.out")
  [[ -n $port ]] || fail "no port in: $(cat "$tmp/$2.out")"
}

serve quadruped_joint.lua joint
cat >"$tmp/joint.lua" <<LUA
local robot = spinal.robot.load "$SRC/robots/quadruped_joint.lua"
local plant = assert(robot:open "udp://127.0.0.1:$port")
-- (loop:start() activates the plant just before its first tick: activated here, the robot's 0.1 s
-- watchdog ran while the loop was being built, and on a loaded machine it tripped first)
-- the host's live loop (commands: the standing pose) and its e-stop: the host's fault reaches
-- the robot as an ESTOP, and the robot-side PD sits it down
local rows, ref = {}, {}
for i = 1, 12 do rows[i] = {} for j = 1, 37 do rows[i][j] = 0 end end
for j = 1, 37 do ref[j] = 0 end
for i = 1, 12 do ref[37 + i] = robot.safety.safe[i] end
local hold = spinal.ctrl.lqr(spinal.array.new(rows))
-- the host's watchdog on the robot's states is 0.5 s, not the robot file's 0.1 s: at load 4 on 2
-- cores the bridge's pacer went 0.1 s without a state one run in ten, the host's loop faulted
-- and its e-stop sat the robot down before the check
local safety = {}
for k, v in pairs(robot.safety) do safety[k] = v end
safety.watchdog = 0.5
local loop = require("spinal.loop").new(plant, { controller = hold, reference = ref,
  safety = safety, rate = 50 })
loop:start()
loop:resume()
-- it stands at once; wait (at most 10 s, a loaded machine) for the standing height, then hold
-- it for a second
local t0, z = spinal.host.clock(), 0
repeat
  spinal.host.sleep(0.1)
  z = loop:state().x[3]
until (z > 0.22 and z < 0.31) or spinal.host.clock() - t0 > 10
spinal.host.sleep(1.0)
z = loop:state().x[3]
print(string.format("host loop: standing z %.3f after %.1f s; faults %d (first %s)", z,
  spinal.host.clock() - t0, loop.faults.count, tostring(loop.faults.first)))
assert(z > 0.22 and z < 0.31, "the robot does not stand on the robot-side PD")
loop:estop()
local vmin = 0
for _ = 1, 75 do
  spinal.host.sleep(0.02)
  vmin = math.min(vmin, loop:state().x[22])
end
z = loop:state().x[3]
print(string.format("host loop e-stopped: z %.3f, fastest descent %.2f m/s", z, vmin))
assert(z < 0.14 and z > 0.05, "the host's e-stop did not sit the robot down")
assert(vmin > -1.2, "the robot fell rather than sat")
loop:close()
plant:close()
print("joint level ok")
LUA
"$BIN" "$tmp/joint.lua" >"$tmp/host_joint.out" 2>&1 ||
  fail "joint-level host: $(cat "$tmp/host_joint.out")
--- the bridge:
$(cat "$tmp/joint.out" "$tmp/joint.err")"
cat "$tmp/host_joint.out"

# the velocity level needs the walking controller (engine/ctrl/gait.h)
have_gait=$("$BIN" -e 'local r = spinal.robot.load "'"$SRC"'/robots/quadruped.lua"
  local p = r:open "mujoco"; print(p and "yes" or "no"); if p then p:close() end' 2>/dev/null || echo no)
if [[ $have_gait != yes ]]; then
  echo "velocity level: the walking controller is not built here (engine/ctrl/gait.h)"
  exit 0
fi
serve quadruped.lua vel
cat >"$tmp/vel.lua" <<LUA
local robot = spinal.robot.load "$SRC/robots/quadruped.lua"
local plant = assert(robot:open "udp://127.0.0.1:$port")
plant:activate()
for _ = 1, 30 do plant:write { 0.5, 0 }; spinal.host.sleep(0.1) end
local x = plant:read()
print(string.format("after 3 s at 0.5 m/s: px %.2f py %.2f", x[1], x[2]))
assert(x[1] > 0.6, "the robot did not walk forward on the robot-side gait")
plant:close()
print("velocity level ok")
LUA
"$BIN" "$tmp/vel.lua" >"$tmp/host_vel.out" 2>&1 || fail "velocity-level host: $(cat "$tmp/host_vel.out")"
cat "$tmp/host_vel.out"
