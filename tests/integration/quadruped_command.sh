#!/usr/bin/env bash
# quadruped_command.sh: experiments/quadruped_command.lua quick=true as a user runs it (method 2's
# command following on the MuJoCo quadruped, on a quick gait library the test builds): it trains a
# small imitation policy, then h through the world model with data collected through the HAL, and
# evaluates velocity commands and paths on the plant; the summary has the flat keys, the plots'
# data and h's checkpoint exist; a second run reuses the first one's imitation policy
# (pretrained=) instead of training one, and counts its samples; h has a gait clock, or none with
# clock_period=0; backward= outside [0, 1] is refused; the run keeps the world model h was trained
# through (ckpt/) and quadruped_finetune fine-tunes from it and h. About ten seconds.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp (removed on exit), quick_gait_library
cd "$SRC"

quick_gait_library

run() { "$BIN" experiments/quadruped_command.lua quick=true library="$tmp/lib" "$@" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: quadruped_command $*"; exit 1; }; }

check() {
  SUMMARY="$1/summary.json" SAMPLES="$2" "$BIN" -e "
    local json = require 'spinal.json'
    local s = assert(json.read(os.getenv 'SUMMARY'))
    local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
    for _, k in ipairs { 'velocity_error_mps_in_range', 'velocity_error_mps_out_of_range',
                         'yaw_rate_error_radps_in_range', 'yaw_rate_error_radps_out_of_range',
                         'path_error_m_circle', 'path_error_m_figure8', 'path_cross_track_m_circle',
                         'path_cross_track_m_figure8', 'falls', 'env_samples', 'command_samples',
                         'wall_seconds' } do
      need(type(s[k]) == 'number', 'summary key ' .. k)
    end
    need(s.command_samples == 600, 'two rounds of 300 transitions collected with h')
    need(s.env_samples == tonumber(os.getenv 'SAMPLES'), 'env_samples counts imitation and h')
    need(s.evaluation_runs == 5 and #s.commands == 3, 'three velocity commands and two paths')
    need(s.falls >= 0 and s.falls <= 5, 'falls counted per run')
    need(s.velocity_error_mps_in_range >= 0 and s.velocity_error_mps_in_range < 2, 'error in range')
    need(s.path_error_m_circle >= s.path_cross_track_m_circle - 1e-9 or s.falls > 0,
         'the moving target is never nearer than the curve')"
  for f in settings.json metrics.csv command.ckpt commanded_vs_achieved.dat circle.dat figure8.dat \
           velocity_over_time.dat; do
    [ -s "$1/$f" ] || { ls "$1"; echo "FAIL: $f missing"; exit 1; }
  done
}

run seed=1 out="$tmp/one"
grep -q "training the imitation policy first" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no imitation"; exit 1; }
grep -q "quadruped_command: velocity error" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no result line"; exit 1; }
check "$tmp/one" 3000
[ -s "$tmp/one/imitate_ckpt/loop.json" ] || { echo "FAIL: the imitation policy was not kept"; exit 1; }
# the world model h was trained through is kept (ckpt/, trained past the imitation's) and its
# buffer holds h's collection; quadruped_finetune pretrained=<this run> starts from them and h
for f in loop.json wm.ckpt policy.ckpt replay.bin; do
  [ -s "$tmp/one/ckpt/$f" ] || { ls "$tmp/one/ckpt"; echo "FAIL: ckpt/$f missing"; exit 1; }
done
cmp -s "$tmp/one/ckpt/wm.ckpt" "$tmp/one/imitate_ckpt/wm.ckpt" &&
  { echo "FAIL: ckpt/wm.ckpt is the imitation's world model"; exit 1; }
"$BIN" -e "
  local wm = require 'spinal.wm'
  local b1 = wm.replay { nx = 37, nu = 12, capacity = 100000 }
  local b0 = wm.replay { nx = 37, nu = 12, capacity = 100000 }
  assert(b1:load('$tmp/one/ckpt/replay.bin') and b0:load('$tmp/one/imitate_ckpt/replay.bin'))
  assert(b1.size == b0.size + 600, ('%d vs %d'):format(b1.size, b0.size))" ||
  { echo "FAIL: ckpt/replay.bin does not hold the imitation's data and h's 600 transitions"; exit 1; }
# (half of h's rows on the robot's recorded windows with the model corrected along them)
"$BIN" experiments/quadruped_finetune.lua quick=true library="$tmp/lib" policy=command \
  pretrained="$tmp/one" out="$tmp/ft" floor=false correction=0.5 >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: quadruped_finetune pretrained=<a quadruped_command run>"; exit 1; }
grep -qF "h from $tmp/one/command.ckpt" "$tmp/out" && grep -qF "pre-trained $tmp/one/ckpt;" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: fine-tuning did not start from the command run's h and world model"; exit 1; }
"$BIN" -e "
  local s = assert(require('spinal.json').read('$tmp/ft/summary.json'))
  assert(s.correction == 0.5, tostring(s.correction))
  assert(s.velocity_error_mean_before_mps > 0 and s.velocity_error_mean_after_mps > 0)
  assert(s.velocity_error_mean_before_mps <= s.velocity_error_before_mps + 1e-12)
  -- per tick |v - c| lies between |v - mean| - |mean - c| and their sum (triangle inequality)
  for _, w in ipairs { 'before', 'after' } do
    local e, m = s['velocity_error_' .. w .. '_mps'], s['velocity_error_mean_' .. w .. '_mps']
    local sw = s['velocity_swing_' .. w .. '_mps']
    assert(sw > 0 and e >= sw - m - 1e-12 and e <= sw + m + 1e-12, w)
  end" ||
  { echo "FAIL: summary.json's correction, mean-velocity errors and swing"; exit 1; }

# h has a gait clock of the library's period (0.3 s at 50 Hz: a phase step of 2 pi / 15)
"$BIN" -e "
  local h = assert(require('spinal.wm').load_command('$tmp/one/command.ckpt'))
  assert(h.lat == 16 and h.nk == 8 and math.abs(h.clock - 2 * math.pi / 15) < 1e-12)" ||
  { echo "FAIL: h's checkpoint (with a clock)"; exit 1; }

# the share of backward commands is a share
if "$BIN" experiments/quadruped_command.lua quick=true backward=1.5 >"$tmp/out" 2>&1; then
  echo "FAIL: backward=1.5 accepted"; exit 1
fi
grep -qF "bad override 'backward=1.5' (expected a number in [0, 1])" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: backward=1.5's message"; exit 1; }
# a pretrained= that is not a run, and a run of another gait library (one training clip fewer):
# named, before any training
if "$BIN" experiments/quadruped_command.lua quick=true pretrained="$tmp/nothing" >"$tmp/out" 2>&1; then
  echo "FAIL: pretrained=<nothing> accepted"; exit 1
fi
grep -qF "pretrained=$tmp/nothing has neither ckpt/loop.json nor loop.json" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: pretrained=<nothing>'s message"; exit 1; }
cp -r "$tmp/lib" "$tmp/lib2"
"$BIN" -e "
  local json = require 'spinal.json'
  local idx = assert(json.read('$tmp/lib2/index.json'))
  for i, e in ipairs(idx.clips) do
    if e.split == 'train' then table.remove(idx.clips, i) break end
  end
  local f = assert(io.open('$tmp/lib2/index.json', 'w'))
  f:write(json.encode(idx), '\n')
  f:close()"
if "$BIN" experiments/quadruped_command.lua quick=true library="$tmp/lib2" pretrained="$tmp/one" \
    >"$tmp/out" 2>&1; then
  echo "FAIL: a run of another gait library accepted"; exit 1
fi
grep -qF "load a checkpoint with the gait library it was trained on" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: another library's run: the message"; exit 1; }

run seed=2 out="$tmp/two" pretrained="$tmp/one/imitate_ckpt" clock_period=0 backward=0
grep -q "imitation policy from $tmp/one/imitate_ckpt (2400 samples)" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: pretrained= not used"; exit 1; }
check "$tmp/two" 3000
"$BIN" -e "
  local command = require 'spinal.command'
  local h = assert(require('spinal.wm').load_command('$tmp/two/command.ckpt'))
  assert(h.lat == 16 and h.nk == 7 and h.clock == 0)" || { echo "FAIL: h's checkpoint (no clock)"; exit 1; }
echo "ok"
