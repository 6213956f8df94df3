#!/usr/bin/env bash
# quadruped_command_udp.sh: experiments/quadruped_command.lua quick=true against a robot over UDP:
# `spinal bridge robots/quadruped_joint.lua` serves the MuJoCo quadruped at the joint level in
# lockstep on loopback, and the experiment runs with plant=udp://127.0.0.1:PORT, so the imitation
# policy's data, h's collection rounds and the evaluation (velocity commands, circle, figure-eight)
# all go through the HAL's UDP backend exactly as to a robot. Such a plant cannot be reset by the
# host: each run starts where the robot stands (h's gait clock from phase 0) after re-arming the
# session, and the bridge (--reset-on-session) stands the simulated robot up on each new session as
# a person would (without it, an episode that starts fallen stops the run: imitate.stand_up). Checks the run completes its budget over the wire (1200 imitation samples, two rounds
# of 300 with h), evaluates there, writes the summary's keys and h's checkpoint, names the udp
# plant in its settings and leaves the bridge serving. It checks the path, not learning.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
cd "$SRC"

quick_gait_library

start_bridge "$SRC/robots/quadruped_joint.lua" 10 --reset-on-session
grep -q "lockstep, reset on each session" "$tmp/bridge.out" || fail "the bridge does not say it resets"

"$BIN" experiments/quadruped_command.lua quick=true library="$tmp/lib" seed=1 out="$tmp/run" \
  plant="udp://127.0.0.1:$port" imitate_samples=1200 >"$tmp/host.out" 2>&1 ||
  fail "quadruped_command over udp"
grep -q "quadruped_command: velocity error" "$tmp/host.out" || fail "no result line"
SUMMARY="$tmp/run/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local s = assert(json.read(os.getenv 'SUMMARY'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  for _, k in ipairs { 'velocity_error_mps_in_range', 'velocity_error_mps_out_of_range',
                       'path_error_m_circle', 'path_error_m_figure8', 'falls', 'env_samples',
                       'command_samples', 'wall_seconds' } do
    need(type(s[k]) == 'number' and s[k] == s[k], 'summary key ' .. k)
  end
  need(s.imitate_samples == 1200 and s.command_samples == 600, 'the budgets were collected over the wire')
  need(s.evaluation_runs == 5 and #s.commands == 3, 'three velocity commands and two paths, over the wire')" \
  || fail "summary: $(cat "$tmp/run/summary.json")"
[ -s "$tmp/run/command.ckpt" ] || fail "no command network checkpoint"
settings=$("$BIN" -e "print(require('spinal.json').read('$tmp/run/settings.json').plant)")
[[ $settings == "udp://127.0.0.1:$port" ]] || fail "the run's settings do not name the udp plant"
kill -0 "${pids[0]}" 2>/dev/null || fail "the bridge died"
echo "quadruped_command over udp: $(grep 'quadruped_command: velocity error' "$tmp/host.out")"
