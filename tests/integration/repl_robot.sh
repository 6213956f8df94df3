#!/usr/bin/env bash
# repl_robot.sh: `spinal repl robots/double_pendulum.lua` (model plant) driven over a pipe and on a
# pseudo-terminal: banner, held start, resume, live gains, a long command that leaves the loop on
# time, an error that leaves it running, e-stop, record + save, and every way out (Ctrl-D with the
# recording flushed, SIGTERM, Ctrl-C twice) ending in the safe command; a bad robot file starts
# nothing.
# ctest: run alone (the 2 s busy command takes one core; a test beside it takes the other and the
# loop's thread, ready every 10 ms, then waits ~100 ms for a core: 18-27 missed deadlines of 200)
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ]; then echo "skipped: no python3 to drive the REPL"; exit 0; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PY" - "$BIN" "$SRC" "$WORK" <<'PYEOF'
import os, re, signal, subprocess, sys, time

BIN, SRC, WORK = sys.argv[1:4]
ROBOT = os.path.join(SRC, "robots", "double_pendulum.lua")
env = dict(os.environ, SPINAL_HISTORY="", HOME=WORK, TERM="xterm")

sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
from repl_pipe import Pipe as ReplPipe, check, done
from pty_session import Tty


def Pipe(*extra):
    """the REPL on the double pendulum with stdin/stdout as pipes"""
    return ReplPipe([BIN, "repl", ROBOT, *extra], WORK, env, timeout=10)

# ---- one long session over a pipe ---------------------------------------------------------------
s = Pipe()
check(s.expect(r"spinal .* on the robot: double_pendulum") is not None, "banner names the robot")
check(s.expect(r"HELD: sending the safe command \{ 0, 0 \}") is not None,
      "banner says the loop is held in its safe command")
check(s.expect(r"estop\(\) or Ctrl-C") is not None, "banner says how to e-stop")

st = s.ask('(function() local x = loop:state() return x.held and x.u[1] == 0 and x.u[2] == 0 '
           'and x.k >= 0 end)()')
check(st == "true", "the loop runs held from the start: the command is the safe command")

s.send("loop:reset { 0.15, -0.1, 0, 0 }:resume()")
s.send("sleep(1.5)")
st = s.ask('(function() local x = loop:state().x return math.abs(x[1]) < 0.05 and '
           'math.abs(x[2]) < 0.05 and not loop:state().held end)()')
check(st == "true", "after resume the controller holds the pendulum up")

# live gains: the command applied is u = -K x with the new K (0.8 of the designed one)
s.send("K0 = loop:gains()")
s.send("loop:set_gains(K0 * 0.8)")
s.send("sleep(0.05)")
st = s.ask('(function() local K = loop:gains() local x = loop:state() '
           'local e = 0 for i = 1, 2 do local u = 0 for j = 1, 4 do '
           'u = u - K[(i - 1) * 4 + j] * x.x[j] end e = math.max(e, math.abs(u - x.u[i])) end '
           'return math.abs(K:sum() - 0.8 * K0:sum()) < 1e-9 and e < 1e-9 end)()')
check(st == "true", "set_gains applies the new gains in the loop (u = -K x with the new K)")

# a 2 s busy command in the REPL: the loop keeps its rate; it misses no more deadlines than in
# 2 s of an idle prompt (the baseline of this machine: without SCHED_FIFO a loaded machine makes
# the odd deadline late whatever the REPL does)
def window(code):
    s.send("s0 = loop:stats()")
    s.send(code)
    st = s.ask('(function() local s1 = loop:stats() return string.format("%d %d %.0f", '
               's1.ticks - s0.ticks, s1.missed - s0.missed, s1.jitter_us.p99) end)()', 15)
    return tuple(map(float, st.split())) if st else (0, 99, 0)
# a shared machine has load bursts of its own: three tries, each an idle window then a busy one
ok_window = False
for attempt in range(3):
    idle = window("sleep(2)")
    busy = window("do local t = spinal.host.clock() while spinal.host.clock() - t < 2 do end end")
    print("  idle 2 s: %d ticks, %d missed deadlines; busy 2 s: %d ticks, %d missed, "
          "jitter p99 %d us" % (idle[0], idle[1], busy[0], busy[1], busy[2]))
    # ticks and misses are judged against the idle window just before (the machine's own
    # baseline), so a loaded machine does not fail it but a REPL that stalls the loop does (a
    # loop waiting on the REPL's command makes no ticks in those 2 s: 0 of 200). On 2 cores the
    # spinning command takes one of them from everything else, so a loaded machine misses a few
    # more deadlines in the busy window than in the idle one: 5 % of the ticks is allowed.
    if busy[0] >= min(190, idle[0] - 10) and busy[1] <= idle[1] + max(2, 0.05 * idle[0]):
        ok_window = True
        break
check(ok_window, "a 2 s REPL command leaves the 100 Hz loop on time (ticks and missed deadlines)")

s.send('error("boom")')
check(s.pump(0.3) is None and "boom" in s.err, "an error in a REPL line is reported")
k0 = s.ask("loop:state().k")
s.send("sleep(0.2)")
k1 = s.ask("loop:state().k")
st = s.ask("loop.running and not loop:state().held and loop.faults.count == 0")
check(st == "true" and int(k1) - int(k0) >= 15,
      "after the error the loop still runs its controller (%s -> %s)" % (k0, k1))

# record one second, save it: every tick, as NPY and CSV
rec = os.path.join(WORK, "rec1")
s.send("loop:record(1)")
st = s.ask('select(2, loop:save("%s"))' % rec, 15)
check(st == "100", "record(1) + save keep 100 ticks")
import numpy as np
k = np.load(os.path.join(rec, "k.npy"))
x = np.load(os.path.join(rec, "x.npy"))
u = np.load(os.path.join(rec, "u.npy"))
check(len(k) == 100 and (np.diff(k) == 1).all() and x.shape == (100, 4) and u.shape == (100, 2),
      "the saved recording has every tick, in order, with x and u")
with open(os.path.join(rec, "log.csv")) as f:
    lines = f.read().splitlines()
check(lines[0] == "k,t,flags,th1,th2,w1,w2,tau1,tau2" and len(lines) == 101,
      "the CSV has the named header and one row per tick")

# e-stop: safe command and flag, the loop stops (on_fault = "stop"), the cause is named
s.send("estop()")
check(s.expect(r"E-STOP latched") is not None, "estop() says the e-stop is latched")
s.send("sleep(0.1)")
check(s.expect(r"loop stopped by a fault: estop at t = [0-9.]+ s") is not None,
      "the REPL says the loop stopped and why")
st = s.ask('(function() local x = loop:state() return x.estop and x.u[1] == 0 and x.u[2] == 0 '
           'and x.flag_names:find "estop" ~= nil and not loop.running and '
           'loop.faults.first == "estop" end)()')
check(st == "true", "after estop() the safe command went out, flagged, and the loop stopped")

# restart held, start an open-ended recording, leave with Ctrl-D: safe stop, recording flushed
s.send("loop:clear():start()")
s.send("loop:resume()")
s.send("loop:record()")
# 40 ticks recorded, however late a loaded machine runs them (at most 10 s)
s.ask("(function() local k0 = loop:state().k for _ = 1, 1000 do "
      "if loop:state().k >= k0 + 40 then return 1 end sleep(0.01) end end)()")
s.p.stdin.close()
code = s.finish()
check(code == 0, "Ctrl-D leaves with status 0 (got %s)" % code)
m = re.search(r"recording saved: (\S+) \((\d+) ticks\)", s.out)
check(m is not None and int(m.group(2)) >= 25, "the open recording is saved on the way out")
if m:
    d = os.path.join(WORK, m.group(1))
    kk = np.load(os.path.join(d, "k.npy"))
    uu = np.load(os.path.join(d, "u.npy"))
    ff = np.load(os.path.join(d, "flags.npy")).astype(int)
    check(len(kk) == int(m.group(2)) and (np.diff(kk) == 1).all(),
          "the flushed recording has every tick up to the stop")
check(re.search(r"loop stopped \(end of session\): safe command sent", s.out) is not None,
      "the session ends with the loop stopped in its safe command")

# ---- switch to a learned policy (spinal.policy), then SIGTERM -----------------------------------
s = Pipe()
s.expect("HELD")
s.send('P, ctrl = require "spinal.policy", require "spinal.ctrl"')
s.send("pol = P.lqr { controller = ctrl.lqr(robot.controller:gains():reshape(2, 4)), period = 3, "
       "hidden = { 8 } }")
s.send("switch(pol)")
st = s.ask('loop.policy .. " " .. tostring(loop:state().held)')
check(st == "policy true", "switch(policy) restarts the loop held with the policy")
s.send("loop:reset { 0.15, -0.1, 0, 0 }:resume()")
s.send("sleep(1.5)")
st = s.ask('(function() local x = loop:state().x return math.abs(x[1]) < 0.05 and '
           'math.abs(x[2]) < 0.05 end)()')
check(st == "true", "the policy (nominal LQR inside) holds the pendulum up")
s.p.send_signal(signal.SIGTERM)
code = s.finish()
check(code == 143 and "loop stopped (SIGTERM): safe command sent" in s.out,
      "SIGTERM: safe stop, exit 143 (got %s)" % code)

# ---- Ctrl-C (SIGINT) over a pipe: a command is interrupted, not the loop; at the prompt: e-stop
s = Pipe()
s.expect("HELD")
s.send("loop:resume()")
s.send("while true do end")
time.sleep(0.3)
s.p.send_signal(signal.SIGINT)
s.p.send_signal(signal.SIGINT)
s.pump(0.5)
st = s.ask("loop.running and not loop:state().estop and not loop:state().held")
check("interrupted" in s.err and st == "true",
      "Ctrl-C during a command interrupts the command; the loop keeps running its controller")
s.p.send_signal(signal.SIGINT)
check(s.expect(r"E-STOP latched") is not None, "Ctrl-C while waiting for input e-stops")
s.p.send_signal(signal.SIGINT)
code = s.finish()
check(code == 130 and "loop stopped (Ctrl-C): safe command sent" in s.out,
      "a second Ctrl-C leaves: safe stop, exit 130 (got %s)" % code)

# ---- a bad robot file: the loader's messages, exit 1, nothing started ---------------------------
bad = os.path.join(WORK, "bad.lua")
with open(bad, "w") as f:
    f.write('return { name = "bad", state = { "a" }, action = { "b" }, rate = -5 }\n')
p = subprocess.run([BIN, "repl", bad], capture_output=True, text=True, cwd=WORK, env=env,
                   stdin=subprocess.DEVNULL, timeout=20)
check(p.returncode == 1 and "bad.lua: rate" in p.stderr and "on the robot" not in p.stdout,
      "a bad robot file: the loader's messages, exit 1, no banner")
p = subprocess.run([BIN, "repl", ROBOT, "--hal", "udp://nohost"], capture_output=True,
                   text=True, cwd=WORK, env=env, stdin=subprocess.DEVNULL, timeout=20)
check(p.returncode == 1 and "cannot open the udp://nohost plant" in p.stderr,
      "a bad --hal URI: exit 1 naming it")

# ---- on a terminal: Ctrl-C at a fresh prompt e-stops, typed text is only cleared ---------------
try:
    t = Tty([BIN, "repl", ROBOT], env, cwd=WORK)
except OSError:
    t = None
if t:
    check(t.until(lambda: t.out.endswith("> "), 30), "on a terminal the REPL prompts")
    n = t.out.count("> ")
    t.send("loop:resume()\r")
    t.until(lambda: t.out.count("> ") > n, 10)
    mark = len(t.out)
    t.send("abc")
    t.until(lambda: "abc" in t.out[mark:], 10)
    t.send("\x03")
    t.until(lambda: "line cleared" in t.out[mark:] or "E-STOP" in t.out[mark:], 10)
    check("E-STOP" not in t.out and "line cleared; e-stop NOT latched" in t.out,
          "Ctrl-C with text typed clears the line and says the e-stop is not latched")
    # a keystroke typed and erased leaves the prompt empty: Ctrl-C must e-stop
    t.until(lambda: t.out.endswith("> "), 10)
    mark = len(t.out)
    t.send("x")
    t.until(lambda: "x" in t.out[mark:], 10)
    mark = len(t.out)
    t.send("\x7f")
    t.until(lambda: len(t.out) > mark, 10)
    t.send("\x03")
    t.until(lambda: "E-STOP latched" in t.out, 10)
    check("E-STOP latched" in t.out, "Ctrl-C at an empty prompt e-stops, after an erased keystroke")
    # the REPL leaves; one that does not is killed, so the test fails instead of hanging
    code = t.close("\x03", seconds=20)
    check(code == 130 and "loop stopped (Ctrl-C)" in t.out,
          "a second Ctrl-C at the prompt leaves with the safe stop (exit %s)" % code)
else:
    print("skipped: no pseudo-terminal for the Ctrl-C checks")

done()
PYEOF
