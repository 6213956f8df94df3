#!/usr/bin/env bash
# repl_lowlevel.sh: `spinal repl ROBOT --hal mujoco` on a robot whose mujoco plant runs a
# low-level controller, driven over a pipe: loop:command sends a command every tick (by the
# robot's action names), a bad name is refused naming the known ones, loop:hold() keeps the
# low-level controller on the safe command (the robot holds), estop() puts the plant in its safe
# mode (the PD lets go, damped) and loop:clear() brings it back. The robot: robots/arm3.lua with
# joint PD inside its mujoco plant. With the walking controller built, robots/quadruped.lua too:
# held it stands, loop:command { v = 0.5, w = 0.3 } walks it, plant:set_lowlevel { gait = "pace" }
# changes its gait while it walks (a bad gait name is refused), estop() sits it down.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ]; then echo "skipped: no python3 to drive the REPL"; exit 0; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/arm_pd.lua" <<LUA
local r = dofile "$SRC/robots/arm3.lua"
r.name = "arm3_pd"
r.safety.on_fault = "hold"
r.plants.model = nil
r.plants.mujoco.mjcf = "$SRC/robots/arm3.xml"
r.plants.mujoco.lowlevel = { kind = "joint_pd", params = { kp = 8, kd = 0.8, kd_sit = 0.05 } }
return r
LUA

"$PY" - "$BIN" "$SRC" "$WORK" <<'PYEOF'
import os, re, subprocess, sys, time

BIN, SRC, WORK = sys.argv[1:4]
env = dict(os.environ, SPINAL_HISTORY="", HOME=WORK, TERM="xterm")

sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
from repl_pipe import Pipe as ReplPipe, check, done


def Pipe(robot):
    """`spinal repl ROBOT --hal mujoco` with stdin/stdout as pipes"""
    return ReplPipe([BIN, "repl", robot, "--hal", "mujoco"], WORK, env, timeout=15)

# ---- the arm with joint PD inside its plant -------------------------------------------------------
s = Pipe(os.path.join(WORK, "arm_pd.lua"))
check(s.expect(r"loop:command\{ shoulder_yaw = \.\.\. \}") is not None,
      "the banner says how to send a command")
s.send("loop:command { shoulder_yaw = 0.3, elbow = 0.5 }")
s.send("sleep(2)")
st = s.ask('(function() local x = loop:state() return string.format("%g %g %g %s %.3f %.3f", '
           'x.u[1], x.u[2], x.u[3], tostring(x.held), x.x[1], x.x[3]) end)()')
print("  after the command: " + str(st))
f = (st or "0 0 0 true 0 0").split()
check(f[:4] == ["0.3", "0", "0.5", "false"],
      "loop:command sends its command every tick, missing actions 0, the loop running")
check(abs(float(f[4]) - 0.3) < 0.1 and abs(float(f[5]) - 0.5) < 0.2,
      "the plant's joint PD tracks the commanded targets")

s.send("loop:command { bogus = 1 }")
s.pump(0.5)
check("bad argument #1 to 'command' (unknown action 'bogus' (known: elbow, shoulder_pitch, "
      "shoulder_yaw))" in s.err, "an unknown action is refused naming the known ones")

s.send("loop:command { shoulder_yaw = -0.2 }")
s.send("sleep(0.2)")
st = s.ask("loop:state().u[1]")
check(st == "-0.2", "a second command changes it at the next tick (got %s)" % st)

s.send("loop:hold()")
s.send("sleep(2)")
st = s.ask('(function() local x = loop:state() return string.format("%s %s %.3f %.3f", '
           'tostring(x.held), tostring(x.safe), x.x[1], x.x[2]) end)()')
print("  held: " + str(st))
f = (st or "false true 1 1").split()
check(f[0] == "true" and abs(float(f[2])) < 0.1 and abs(float(f[3])) < 0.15,
      "held: the plant's PD keeps tracking the safe command (the arm holds its zero pose)")

s.send("estop()")
s.send("sleep(2)")
st = s.ask('(function() local x = loop:state() return string.format("%s %.3f", '
           'tostring(x.estop), x.x[2]) end)()')
print("  e-stopped: " + str(st))
f = (st or "false 0").split()
check(f[0] == "true" and abs(float(f[1])) > 0.3,
      "e-stop: the plant's safe mode lets the arm down under damping (pitch %s)" % f[1])
s.send("loop:clear()")
s.send("loop:hold()")
s.send("sleep(2)")
st = s.ask("string.format('%.3f', loop:state().x[2])")
check(st is not None and abs(float(st)) < 0.15, "cleared: the PD holds the arm up again (%s)" % st)
code = s.finish(close=True)
check(code == 0, "Ctrl-D leaves with status 0 (got %s)" % code)

# ---- the quadruped, when the walking controller is built ----------------------------------------
have = subprocess.run([BIN, "-e", 'local r = spinal.robot.load "%s/robots/quadruped.lua" '
                       'local p = r:open "mujoco" print(p and "yes" or "no")' % SRC],
                      capture_output=True, text=True).stdout.strip()
if have != "yes":
    print("quadruped: the walking controller is not built here (engine/ctrl/gait.h)")
else:
    s = Pipe(os.path.join(SRC, "robots", "quadruped.lua"))
    check(s.expect(r"spinal .* on the robot: quadruped") is not None, "quadruped banner")
    check(s.expect(r'plant:set_lowlevel\{ gait = "pace" \}  trot, pace or bound') is not None,
          "the banner says how to change the gait")
    s.send("sleep(1)")
    st = s.ask("string.format('%.3f', plant and 0 or 0)")
    s.send("loop:command { v = 0.5, w = 0.3 }")
    s.send("sleep(4)")
    st = s.ask('(function() local x = loop:state().x return string.format("%.3f %.3f %.3f", '
               'x[1], x[2], x[3]) end)()')
    print("  after 4 s of walking: " + str(st))
    f = [float(v) for v in (st or "0 0 0").split()]
    check(f[0] > 0.5 and f[2] > 0.4, "loop:command { v = 0.5, w = 0.3 } walks it forward, turning left")
    # a new gait while the live loop walks it: the plant's runtime setting, from the REPL thread
    s.send('plant:set_lowlevel { gait = "pace" }')
    s.send("sleep(3)")
    st = s.ask('(function() local x = loop:state().x return string.format("%.3f %.3f", '
               'x[1], x[2]) end)()')
    g = [float(v) for v in (st or "0 0").split()]
    moved = ((g[0] - f[0]) ** 2 + (g[1] - f[1]) ** 2) ** 0.5
    print("  3 s after plant:set_lowlevel { gait = 'pace' }: moved %.2f m" % moved)
    check(moved > 0.8 and "error" not in s.err, "it paces on after the gait change (%.2f m)" % moved)
    s.send('plant:set_lowlevel { gait = "gallop" }')
    s.pump(0.5)
    check("set_lowlevel: low-level controller gait: setting 'gait': expected trot, pace or bound "
          "(or 0, 1, 2), got 'gallop'" in s.err, "a bad gait name is refused naming the setting")
    s.send('plant:set_lowlevel { gait = "trot" }')
    s.send("loop:hold()")
    s.send("sleep(1)")
    a = s.ask("string.format('%.3f %.3f', loop:state().x[1], loop:state().x[2])")
    s.send("sleep(1)")
    b = s.ask("string.format('%.3f %.3f', loop:state().x[1], loop:state().x[2])")
    pa = [float(v) for v in (a or "0 0").split()]
    pb = [float(v) for v in (b or "9 9").split()]
    check(abs(pa[0] - pb[0]) < 0.05 and abs(pa[1] - pb[1]) < 0.05, "loop:hold() stands still")
    s.send("estop()")
    s.send("sleep(2)")
    st = s.ask('(function() local x = loop:state() return string.format("%s %s %.3f", '
               'tostring(x.estop), tostring(loop.running), x.x[1]) end)()')
    s.send("sleep(1)")
    pos = "string.format('%.3f %.3f', loop:state().x[1], loop:state().x[2])"
    p0 = [float(v) for v in (s.ask(pos) or "9 9").split()]
    f = (st or "false false 0").split()
    check(f[0] == "true" and f[1] == "true" and abs(p0[0] - float(f[2])) < 0.05,
          "estop() latches; the loop keeps stepping the robot while it sits, in place")
    s.send("loop:clear()")
    s.send("sleep(2)")
    s.send("loop:command { v = 0.5 }")
    s.send("sleep(3)")
    p1 = [float(v) for v in (s.ask(pos) or "9 9").split()]
    moved = ((p1[0] - p0[0]) ** 2 + (p1[1] - p0[1]) ** 2) ** 0.5
    check(moved > 0.8, "after loop:clear() it stands up and walks again (%.2f m in 3 s)" % moved)
    code = s.finish(close=True)
    check(code == 0, "Ctrl-D leaves with status 0 (got %s)" % code)

done()
PYEOF
