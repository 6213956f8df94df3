#!/usr/bin/env bash
# quadruped_imitate_udp.sh: experiments/quadruped_imitate.lua quick=true against a robot over UDP:
# `spinal bridge robots/quadruped_joint.lua` serves the MuJoCo quadruped at the joint level (PD at
# 1 kHz inside the plant) in lockstep on loopback, and the experiment runs with
# plant=udp://127.0.0.1:PORT. Such a plant cannot be reset by the host: every episode and every
# held-out evaluation re-arms the session and starts where the robot stands, the reference moved
# onto it (the bridge, --reset-on-session, stands the simulated robot up on each new session as a
# person would); the host's heartbeats keep the session while it trains.
# Checks the run completes its budget (two rounds of 600 transitions) over the wire, evaluates the
# held-out clips there, writes the summary with the issue's keys and the checkpoint, and leaves
# the bridge serving. Under a minute on a quiet machine. (It checks the path, not learning.)
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
cd "$SRC"

quick_gait_library

start_bridge "$SRC/robots/quadruped_joint.lua" 10 --reset-on-session
grep -q "mujoco plant" "$tmp/bridge.out" || fail "the bridge did not pick the mujoco plant"

"$BIN" experiments/quadruped_imitate.lua quick=true library="$tmp/lib" seed=1 out="$tmp/run" \
  plant="udp://127.0.0.1:$port" samples=1200 >"$tmp/host.out" 2>&1 || fail "quadruped_imitate over udp"
grep -q "held out 4 clips" "$tmp/host.out" || fail "no result line"
SUMMARY="$tmp/run/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local s = assert(json.read(os.getenv 'SUMMARY'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  for _, k in ipairs { 'env_samples', 'joint_error_rad', 'root_velocity_error_mps',
                       'root_position_error_m', 'falls', 'clips', 'wm_error_h1', 'wm_error_h8',
                       'wall_seconds' } do
    need(type(s[k]) == 'number' and s[k] == s[k], 'summary key ' .. k)
  end
  need(s.env_samples == 1200, 'the budget was collected over the wire')
  need(s.clips == 4 and s.falls >= 0 and s.falls <= 4, 'four held-out clips evaluated')
  need(s.joint_error_rad > 0 and s.joint_error_rad < 1, 'joint error in range')" \
  || fail "summary: $(cat "$tmp/run/summary.json")"
[ -s "$tmp/run/ckpt/replay.bin" ] || fail "no checkpoint"
settings=$("$BIN" -e "print(require('spinal.json').read('$tmp/run/settings.json').plant)")
[[ $settings == "udp://127.0.0.1:$port" ]] || fail "the run's settings do not name the udp plant"
kill -0 "${pids[0]}" 2>/dev/null || fail "the bridge died"
echo "quadruped_imitate over udp: $(grep 'held out' "$tmp/host.out")"
