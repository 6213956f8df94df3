#!/usr/bin/env bash
# quadruped_imitate.sh: experiments/quadruped_imitate.lua quick=true as a user runs it (method 2's
# alternating loop on the MuJoCo quadruped, on a quick gait library the test builds): the run
# directory holds the summary with the issue's flat keys, the metrics, the plots' data, the
# checkpoint and the held-out rollouts with MuJoCo's configuration for `spinal render`; and a run
# interrupted after its second iteration and resumed ends with the same networks, optimiser states,
# replay buffer and metrics as the uninterrupted run, byte for byte. Under a minute.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp (removed on exit), quick_gait_library
cd "$SRC"

quick_gait_library

run() { "$BIN" experiments/quadruped_imitate.lua quick=true library="$tmp/lib" "$@" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: quadruped_imitate $*"; exit 1; }; }

run seed=1 out="$tmp/full"
grep -q "held out 4 clips" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no result line"; exit 1; }
SUMMARY="$tmp/full/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local s = assert(json.read(os.getenv 'SUMMARY'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  for _, k in ipairs { 'env_samples', 'joint_error_rad', 'root_velocity_error_mps',
                       'root_position_error_m', 'falls', 'clips', 'wm_error_h1', 'wm_error_h8',
                       'wall_seconds' } do
    need(type(s[k]) == 'number', 'summary key ' .. k)
  end
  need(s.env_samples == 2400, 'env_samples is the budget')
  need(s.clips == 4 and #s.clip_names == 4, 'four held-out clips')
  need(s.falls >= 0 and s.falls <= 4, 'falls counted per clip')
  -- the quick library's held-out gait transition (pace -> trot) reported on its own
  need(s.gait_transition_clips == 1, 'one held-out gait transition')
  need(s.gait_transition_joint_error_rad == s.clip_joint_error_rad[4], 'its joint error')
  need(type(s.gait_transition_velocity_error_mps) == 'number'
       and type(s.gait_transition_falls) == 'number', 'its velocity error and falls')
  need(s.joint_error_rad > 0 and s.joint_error_rad < 1, 'joint error in range')
  need(s.wm_error_h8 > s.wm_error_h1, 'world-model error grows with the horizon')
  need(#s.wm_error_by_horizon == 24, 'error by horizon to 24')"
for f in settings.json metrics.csv ckpt/wm.ckpt ckpt/policy.ckpt ckpt/replay.bin ckpt/loop.json \
         heldout_1.json heldout_1_qpos.npy wm_error_vs_horizon.dat tracking_vs_samples.dat \
         joints_vs_reference.dat; do
  [ -s "$tmp/full/$f" ] || { ls "$tmp/full"; echo "FAIL: $f missing"; exit 1; }
done

# interrupted after iteration 2, then resumed: the same end state as the run above
run seed=1 out="$tmp/cut" stop=2
grep -q "stopped after iteration 2" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: stop=2"; exit 1; }
[ ! -e "$tmp/cut/summary.json" ] || { echo "FAIL: an interrupted run wrote a summary"; exit 1; }
run resume="$tmp/cut"
grep -q "resumed .* at iteration 2" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: resume"; exit 1; }
for f in ckpt/wm.ckpt ckpt/policy.ckpt ckpt/replay.bin ckpt/starts.npy heldout_1_X.npy; do
  cmp -s "$tmp/full/$f" "$tmp/cut/$f" || { echo "FAIL: resumed $f differs"; exit 1; }
done
cmp -s "$tmp/full/metrics.csv" "$tmp/cut/metrics.csv" || { diff "$tmp/full/metrics.csv" "$tmp/cut/metrics.csv"; echo "FAIL: metrics differ"; exit 1; }
# a clip in the public dog motion-capture text format (quaternion x y z w, "LoopMode"), written from
# a library clip, trained on and evaluated with train_clips=
"$BIN" -e "
  local motion = require 'spinal.motion'
  local lib = assert(require('spinal.gaitlib').load('$tmp/lib'))
  local F = lib.train[1]:frames()
  local rows = {}
  for i = 1, F.shape[1] do
    local r = F[i]
    local t = { r[1], r[2], r[3], r[5], r[6], r[7], r[4] }
    for j = 8, 19 do t[#t + 1] = r[j] end
    for k, v in ipairs(t) do t[k] = string.format('%.17g', v) end
    rows[#rows + 1] = '[' .. table.concat(t, ', ') .. ']'
  end
  local f = assert(io.open('$tmp/dog.txt', 'w'))
  f:write('{\"LoopMode\": \"Clamp\", \"FrameDuration\": 0.02, \"Frames\": [\n',
          table.concat(rows, ',\n'), ']}\n')
  f:close()
  local c = assert(motion.load('$tmp/dog.txt'))
  assert(c.nframes == F.shape[1])" || { echo "FAIL: writing the mocap clip"; exit 1; }
run seed=1 out="$tmp/dog" train_clips="$tmp/dog.txt" samples=1200
grep -q "1 training clips, 1 held out (clip files)" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: clip files"; exit 1; }
grep -q "held out 1 clips" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: mocap clip evaluated"; exit 1; }

# a different seed is a different run
run seed=2 out="$tmp/seed2"
cmp -s "$tmp/full/ckpt/policy.ckpt" "$tmp/seed2/ckpt/policy.ckpt" && { echo "FAIL: seed ignored"; exit 1; }
echo "ok"
