#!/usr/bin/env bash
# quadruped_finetune.sh: experiments/quadruped_finetune.lua quick=true as a user runs it (method 2's
# fine-tuning on a "real" robot, on a quick gait library and a tiny pre-training built here): the
# default "real" robot's perturbations reach the plant and the summary, the robot-time budget is
# kept, the summary has the issue's flat keys; a perturbation outside its documented range is
# refused; and the same experiment drives a perturbed robot behind `spinal bridge` over UDP (the
# HAL path a real robot uses), whose perturbations are the bridge's. About a minute.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
cd "$SRC"
export OPENBLAS_NUM_THREADS=1

quick_gait_library

run() { "$BIN" experiments/quadruped_finetune.lua quick=true library="$tmp/lib" "$@" >"$tmp/run.out" 2>&1 ||
  fail "quadruped_finetune $*"; }

# summary DIR LUA: check summary.json of DIR with `need(ok, what)` and `s`
summary() {
  SUMMARY="$1/summary.json" "$BIN" -e "
    local s = assert(require('spinal.json').read(os.getenv 'SUMMARY'))
    local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
    for _, k in ipairs { 'real_data_seconds', 'velocity_error_before_mps', 'velocity_error_after_mps',
                         'path_error_before_m', 'path_error_after_m', 'falls_before', 'falls_after',
                         'action_shift', 'wall_seconds' } do
      need(type(s[k]) == 'number', 'summary key ' .. k)
    end
    need(s.real_data_seconds == 16, 'the quick budget of robot time (16 s), got ' .. s.real_data_seconds)
    need(s.falls_before >= 0 and s.falls_before <= 3 and s.falls_after <= 3, 'falls per clip')
    need(s.action_shift > 0, 'fine-tuning moved the actions')
    $2" || fail "summary of $1: $(cat "$1/summary.json")"
}

# the default "real" robot and the default policy (the command network h), both pre-trained here:
# the imitation policy, then h as quadruped_command trains it (its warm start and collection rounds)
run seed=1 out="$tmp/q1"
grep -q "real robot friction=0.6 latency=0.01 motor=0.8 payload=3 (mujoco)" "$tmp/run.out" ||
  fail "the default perturbations"
grep -q "pre-training h on the simulator (quadruped_command's training)" "$tmp/run.out" ||
  fail "h was not pre-trained: $(cat "$tmp/run.out")"
grep -q "h from $tmp/q1/command.ckpt" "$tmp/run.out" || fail "the pre-trained h was not fine-tuned"
grep -q "after 16.0 s of robot data" "$tmp/run.out" || fail "no result line"
summary "$tmp/q1" "
  need(s.perturbations == 'friction=0.6 latency=0.01 motor=0.8 payload=3' and s.outside_documented_range == '', 'perturbations named')
  need(s.payload == 3 and s.friction == 0.6 and s.motor == 0.8 and s.latency == 0.01 and s.pd == 1,
       'every perturbation recorded')
  need(s.policy == 'command' and s.mix == 0, 'the command network, its world model fine-tuned on the robot data alone (mix=0)')
  need(s.rounds == 16 and s.round_anchor == 3, 'h in rounds (16 in the quick mode), each a trust region (round_anchor=3)')
  need(s.pretrain_command_samples == 600 and s.pretrain_samples == 1800,
       'the pre-training: 1200 imitation and 600 of h collection transitions: ' .. tostring(s.pretrain_samples))
  need(s.scored_on_truth == true, 'a mujoco robot scored on its state without sensor noise')"
for f in settings.json metrics.csv ckpt/loop.json ckpt/policy.ckpt command.ckpt finetuned/wm.ckpt \
         finetuned/policy.ckpt finetuned/command.ckpt finetuned/real.bin velocity_error.dat; do
  [[ -s $tmp/q1/$f ]] || fail "$f missing"
done
# where the error is: one line per command (the quick mode's two), its mean walk after
grep -A2 "per command (vx vy wz)" "$tmp/run.out" | grep -Eq "^  \+0\.00 \+0\.00 \+0\.40   [0-9.]+ -> [0-9.]+   [-+][0-9.]+ [-+][0-9.]+" ||
  fail "the per-command lines: $(cat "$tmp/run.out")"

# the imitation policy (pre-trained here: no h), fine-tuned on the held-out clips
run seed=1 out="$tmp/imi" policy=imitation
grep -q "pre-training h" "$tmp/run.out" && fail "h pre-trained for the imitation policy"
summary "$tmp/imi" "need(s.policy == 'imitation' and s.mix == 0.5 and s.eval_clips == 3,
  'the imitation policy: half the world-model windows from the simulator, the held-out clips')"
[[ -e $tmp/imi/command.ckpt ]] && fail "a command.ckpt for the imitation policy"
# and h pre-trained here from that imitation run (pretrained= without a command.ckpt): the same h
# as the run that pre-trained both (the same seed and settings)
run seed=1 out="$tmp/fromimi" pretrained="$tmp/imi"
grep -q "pre-training h on the simulator" "$tmp/run.out" || fail "h not pre-trained from the imitation run"
cmp -s "$tmp/fromimi/command.ckpt" "$tmp/q1/command.ckpt" ||
  fail "h pre-trained from a saved imitation run differs from the one pre-trained in one go"

# the floor: the pre-trained policy on the unperturbed robot, and the share of the gap closed
summary "$tmp/q1" "
  need(type(s.velocity_error_floor_mps) == 'number' and type(s.path_error_floor_m) == 'number'
       and type(s.falls_floor) == 'number', 'the floor measured')
  local b, a, f = s.velocity_error_before_mps, s.velocity_error_after_mps, s.velocity_error_floor_mps
  need(f == b or b <= f and s.gap_closed == nil or math.abs(s.gap_closed - (b - a) / (b - f)) < 1e-12,
       'gap_closed = (before - after) / (before - floor)')"

# another robot from the command line, on the same pre-training
# (in 3 rounds: 800 ticks do not split evenly, and none of them is lost)
run seed=2 out="$tmp/q2" pretrained="$tmp/q1" payload=1.5 motor=1 latency=0 pd=0.8 mix=0 rounds=3
grep -q "real robot friction=0.6 payload=1.5 pd=0.8 (mujoco)" "$tmp/run.out" || fail "perturbations from the command line"
summary "$tmp/q2" "need(s.pd == 0.8 and s.mix == 0, 'pd and mix recorded')
  need(s.rounds == 3 and s.real_data_seconds == 16, 'the whole budget in 3 rounds: ' .. s.real_data_seconds)"
# the same pre-trained policy on the same unperturbed robot: the floor does not see the perturbations
F1=$(SUMMARY="$tmp/q1/summary.json" "$BIN" -e "print(('%.17g'):format(require('spinal.json').read(os.getenv 'SUMMARY').velocity_error_floor_mps))")
summary "$tmp/q2" "need(('%.17g'):format(s.velocity_error_floor_mps) == '$F1', 'the floor is the unperturbed robot: ' .. s.velocity_error_floor_mps .. ' vs $F1')"

# the pre-trained run's h, given by its run directory
run seed=1 out="$tmp/cmd" pretrained="$tmp/q1" policy=command
grep -q "pre-training" "$tmp/run.out" && fail "pre-trained again though pretrained= has h"
summary "$tmp/cmd" "need(s.policy == 'command' and s.command_ckpt == '$tmp/q1/command.ckpt', 'h from the pre-trained run')
  need(s.wm_recent == 0 and s.wm_new_velocity_error_mean > 0, 'wm_recent and the model on each round recorded')"
grep -q "the model on this round's walk [0-9.]* -> [0-9.]* m/s" "$tmp/run.out" || fail "the model on each round's walk is not reported"
[[ -s $tmp/cmd/finetuned/command.ckpt ]] || fail "the fine-tuned h's file"
# a given h: the one just fine-tuned (each round ending on the mean of its last half's h)
run seed=1 out="$tmp/cmd2" pretrained="$tmp/q1" policy=command command_ckpt="$tmp/cmd/finetuned/command.ckpt" h_average=0.5
grep -q "h from $tmp/cmd/finetuned/command.ckpt" "$tmp/run.out" || fail "command_ckpt was not used"
summary "$tmp/cmd2" "need(s.policy == 'command' and s.h_average == 0.5, 'the policy and h_average recorded')"
# an h with a gait clock (quadruped_command's default; rows of 8, the phase last) whose architecture
# is not h_hidden / h_layers: fine-tuned as it is, saved with its clock
"$BIN" -e "
  local wm, command = require 'spinal.wm', require 'spinal.command'
  local C = command.new { model = assert(wm.load('$tmp/q1/ckpt/wm.ckpt')),
                          pol = assert(wm.load_vae('$tmp/q1/ckpt/policy.ckpt')), hidden = 12,
                          layers = 1, seed = 3, clock = command.clock(0.3, 0.02) }
  assert(C:save('$tmp/clocked.ckpt'))" >"$tmp/clocked.out" 2>&1 || fail "a clocked h: $(cat "$tmp/clocked.out")"
run seed=1 out="$tmp/cmd3" pretrained="$tmp/q1" policy=command command_ckpt="$tmp/clocked.ckpt"
grep -q "after 16.0 s of robot data" "$tmp/run.out" || fail "no result line with a clocked h"
summary "$tmp/cmd3" "need(s.policy == 'command', 'the policy recorded')"
"$BIN" -e "
  local wm, command = require 'spinal.wm', require 'spinal.command'
  local C = assert(command.load('$tmp/cmd3/finetuned/command.ckpt',
    { model = assert(wm.load('$tmp/cmd3/finetuned/wm.ckpt')),
      pol = assert(wm.load_vae('$tmp/cmd3/finetuned/policy.ckpt')) }))
  assert(C.h.nk == 8 and math.abs(C.h.clock - command.clock(0.3, 0.02)) < 1e-12 and C.h.hidden == 12
         and C.h.layers == 1, 'the fine-tuned h keeps its clock and architecture')" >"$tmp/clocked.out" 2>&1 ||
  fail "the fine-tuned clocked h: $(cat "$tmp/clocked.out")"

# the command calibration: the last 4 s of the 16 measure h's walk per axis, folded into h; the
# fine-tuned h is evaluated before it too
run seed=1 out="$tmp/cal" pretrained="$tmp/q1" policy=command calibrate_seconds=4 calibrate_hold=0.5
grep -q "calibration: [0-9]* holds of 0.5 s" "$tmp/run.out" || fail "no calibration line"
SUMMARY="$tmp/cal/summary.json" "$BIN" -e "
  local s = assert(require('spinal.json').read(os.getenv 'SUMMARY'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(s.calibrate_seconds == 4 and s.calibration_holds >= 0 and s.calibration_holds <= 8, 'holds')
  need(#s.calibration_scale == 3 and #s.calibration_offset == 3, 'the lines per axis')
  -- whole holds only: a fall leaves the rest of a hold unspent
  need(s.real_data_seconds <= 16 and s.real_data_seconds > 12, 'the budget: ' .. s.real_data_seconds)
  for _, k in ipairs { 'velocity_error_uncalibrated_mps', 'velocity_error_mean_uncalibrated_mps',
                       'path_error_uncalibrated_m', 'falls_uncalibrated' } do
    need(type(s[k]) == 'number', 'summary key ' .. k)
  end" || fail "calibration summary: $(cat "$tmp/cal/summary.json")"
if "$BIN" experiments/quadruped_finetune.lua quick=true out="$tmp/bad4" policy=command \
    calibrate_seconds=16 >"$tmp/bad.out" 2>&1; then
  fail "calibrate_seconds=16 of 16 was accepted"
fi
grep -qF "calibrate_seconds=16: expected less than real_seconds (16)" "$tmp/bad.out" ||
  fail "calibrate_seconds=16's refusal: $(cat "$tmp/bad.out")"

# prev_action (policy=command's default): the world model fine-tuned with the previous action as
# an input (widened from the pre-trained one: its error on the robot before fine-tuning is the same
# model's), saved with it; prev_action=false keeps the pre-trained model's inputs
run seed=1 out="$tmp/prev" pretrained="$tmp/q1" policy=command
grep -q "after 16.0 s of robot data" "$tmp/run.out" || fail "no result line with prev_action"
summary "$tmp/prev" "need(s.prev_action == true and s.wm_real_error_after < s.wm_real_error_before,
  'the widened world model learned from the robot')
  need(s.collect_starts == 'reference' and type(s.real_fall_episode_seconds) == 'table',
    'collect_starts and the falls while collecting recorded')
  need(s.observer == true and s.observer_active == false and s.sensor_noise_estimated < 0.0015
    and s.observer_gain >= 0.95 and s.velocity_error_after_raw_mps == nil,
    'no observer where the robot has no sensor noise: ' .. tostring(s.sensor_noise_estimated))"
grep -q "observer: sensor noise 0.00[01][0-9]* on the base's pose .*: the readings pass as they are" "$tmp/run.out" ||
  fail "the observer's line without sensor noise: $(grep observer "$tmp/run.out")"
# sensor_noise=-1: the robot stands 2 s of the 16 first, its noise measured (0.01 on every entry:
# the base's mean std within a fifth), and the rounds share the other 14
run seed=1 out="$tmp/noise" pretrained="$tmp/q1" policy=command noise=0.01 sensor_noise=-1 pol_iters=1
grep -q "sensor noise measured standing 2.0 s" "$tmp/run.out" || fail "no sensor noise line"
summary "$tmp/noise" "need(s.sensor_noise == -1 and s.noise_seconds == 2 and s.real_data_seconds == 16
    and math.abs(s.sensor_noise_measured - 0.01) < 0.002 and s.sensor_noise_measured_joints > 0.008,
  'the sensor noise measured: ' .. tostring(s.sensor_noise_measured))
  -- the observer (policy=command's default): the noise seen in the recorded walk, the fine-tuned h
  -- evaluated through the fine-tuned world model at the gain it gives, and on the raw readings too
  local obs = require 'spinal.observer'
  need(s.observer == true and s.observer_active == true
    and math.abs(s.sensor_noise_estimated - 0.01) < 0.0015
    and math.abs(s.observer_gain - obs.gain(s.sensor_noise_estimated)) < 1e-12,
    'the observer on a noisy robot: ' .. tostring(s.sensor_noise_estimated) .. ' ' .. tostring(s.observer_gain))
  for _, k in ipairs { 'velocity_error_after_raw_mps', 'velocity_error_mean_after_raw_mps',
                       'velocity_swing_after_raw_mps', 'path_error_after_raw_m', 'falls_after_raw' } do
    need(type(s[k]) == 'number', 'summary key ' .. k)
  end"
grep -q "observer: sensor noise 0.0[01][0-9]* on the base's pose (.* windows of the recorded data); the fine-tuned h reads the robot through the fine-tuned world model, gain 0.[23]" "$tmp/run.out" ||
  fail "no observer line: $(cat "$tmp/run.out")"
grep -q "without the observer (the fine-tuned h on the raw readings): velocity error" "$tmp/run.out" ||
  fail "no line of the fine-tuned h without the observer"
# ... and a gain given on the command line; refused: a gain outside [0, 1], the imitation policy
run seed=1 out="$tmp/obsgain" pretrained="$tmp/q1" policy=command noise=0.01 observer_gain=0.5 pol_iters=1 wm_iters=1
summary "$tmp/obsgain" "need(s.observer_active == true and s.observer_gain == 0.5, 'observer_gain=0.5 used')"
for bad in "robot=soft:robot=soft: expected default (the perturbations not given at the default robot's values) or neutral (at the simulator's)" \
           "observer_gain=1.5:bad override 'observer_gain=1.5' (expected a number in [0, 1])" \
           "policy=imitation observer=true:observer=true reads the robot through the fine-tuned world model for the command network h: it needs policy=command"; do
  # shellcheck disable=SC2086
  if "$BIN" experiments/quadruped_finetune.lua quick=true out="$tmp/bad" ${bad%%:*} >"$tmp/bad.out" 2>&1; then
    fail "${bad%%:*} was accepted"
  fi
  grep -qF "${bad#*:}" "$tmp/bad.out" || fail "${bad%%:*}'s refusal: $(cat "$tmp/bad.out")"
done
if "$BIN" experiments/quadruped_finetune.lua quick=true out="$tmp/bad" pretrained="$tmp/q1" \
    sensor_noise=-1 noise_seconds=12 calibrate_seconds=4 >"$tmp/bad.out" 2>&1; then
  fail "noise_seconds=12 and calibrate_seconds=4 of 16 were accepted"
fi
grep -qF "noise_seconds=12 (sensor_noise=-1) and calibrate_seconds=4: expected less than real_seconds (16)" \
  "$tmp/bad.out" || fail "noise_seconds' refusal: $(cat "$tmp/bad.out")"
# collect_starts=recorded: the episodes start from the pre-training's states: other data
run seed=1 out="$tmp/recorded" pretrained="$tmp/q1" policy=command collect_starts=recorded pol_iters=1
summary "$tmp/recorded" "need(s.collect_starts == 'recorded', 'collect_starts=recorded recorded')"
cmp -s "$tmp/prev/finetuned/real.bin" "$tmp/recorded/finetuned/real.bin" &&
  fail "collect_starts=recorded collected the same data as reference"
run seed=1 out="$tmp/noprev" pretrained="$tmp/q1" policy=command prev_action=false pol_iters=1
summary "$tmp/noprev" "need(s.prev_action == false, 'prev_action=false recorded')"
for d in prev:1 noprev:0; do
  WM="$tmp/${d%%:*}/finetuned/wm.ckpt" H=${d#*:} "$BIN" -e "
    local m = assert(require('spinal.wm').load(os.getenv 'WM'))
    local h = tonumber(os.getenv 'H')
    assert(m.history == h and m.na == (1 + h) * m.nu, 'the saved world model history ' .. m.history)" \
    >"$tmp/prev.out" 2>&1 || fail "the fine-tuned world model ($d): $(cat "$tmp/prev.out")"
done

# h_prev_action: h itself sees the previous action (widened), saved with it
run seed=1 out="$tmp/hprev" pretrained="$tmp/q1" policy=command h_prev_action=true
grep -q "after 16.0 s of robot data" "$tmp/run.out" || fail "no result line with h_prev_action"
summary "$tmp/hprev" "need(s.h_prev_action == true, 'h_prev_action=true recorded')"
CK="$tmp/hprev/finetuned/command.ckpt" "$BIN" -e "
  local h = assert(require('spinal.wm').load_command(os.getenv 'CK'))
  assert(h.prev_action == true, 'the saved h does not see the previous action')" \
  >"$tmp/prev.out" 2>&1 || fail "the fine-tuned h with h_prev_action: $(cat "$tmp/prev.out")"

# collection alone (wm_iters=0 pol_iters=0, an ablation): the rounds say what was not trained and h
# does not move
run seed=1 out="$tmp/none" pretrained="$tmp/q1" policy=command wm_iters=0 pol_iters=0
grep -q "round 1: .* world model not trained" "$tmp/run.out" || fail "round line without training"
SUMMARY="$tmp/none/summary.json" "$BIN" -e "
  local s = assert(require('spinal.json').read(os.getenv 'SUMMARY'))
  assert(s.action_shift == 0, 'h moved without training: ' .. s.action_shift)" >"$tmp/none.out" 2>&1 ||
  fail "collection alone: $(cat "$tmp/none.out")"

# outside the documented range: said, and recorded; robot=neutral: that perturbation alone (the
# others the simulator's, not the default robot's)
run seed=1 out="$tmp/far" pretrained="$tmp/q1" robot=neutral latency=0.02 pol_iters=1 wm_iters=1
grep -q "latency=0.02 is outside its documented range 0 .. 0.01 (docs/quadruped.md)" "$tmp/run.out" ||
  fail "no warning for latency=0.02"
grep -q "real robot latency=0.02 (mujoco)" "$tmp/run.out" ||
  fail "robot=neutral latency=0.02 is not latency alone: $(head -3 "$tmp/run.out")"
summary "$tmp/far" "need(s.outside_documented_range == 'latency=0.02', 'recorded outside the range')
  need(s.perturbations == 'latency=0.02' and s.payload == 0 and s.friction == 1 and s.motor == 1,
    'robot=neutral: ' .. s.perturbations)"
# refused by the settings
if "$BIN" experiments/quadruped_finetune.lua quick=true motor=0 >"$tmp/bad.out" 2>&1; then
  fail "motor=0 was accepted"
fi
grep -q "bad override 'motor=0' (expected a number > 0 and <= 10)" "$tmp/bad.out" || fail "motor=0's refusal"
# a robot that does not answer, after a pre-training done here: the pre-training is kept and the
# message says how to start from it
if "$BIN" experiments/quadruped_finetune.lua quick=true library="$tmp/lib" out="$tmp/deaf" \
    plant=udp://127.0.0.1:9 >"$tmp/bad.out" 2>&1; then
  fail "a robot that does not answer was accepted"
fi
grep -qF "the pre-training is saved: pretrained=$tmp/deaf starts from it" "$tmp/bad.out" ||
  fail "the message after a robot that does not answer: $(cat "$tmp/bad.out")"
[[ -s $tmp/deaf/ckpt/loop.json ]] || fail "the pre-training was not kept"
# refused before any pre-training (no pretrained= given: nothing may run first)
for bad in "policy=foo:policy=foo: expected imitation or command" \
           "rounds=0:rounds=0: fine-tuning needs at least one round" \
           "calibrate_seconds=5:calibrate_seconds=5 calibrates the command network: it needs policy=command" \
           "prev_action=true:prev_action=true widens the world model h is fine-tuned through: it needs policy=command" \
           "h_prev_action=true:h_prev_action=true widens the command network h: it needs policy=command" \
           "h_average=0.5:h_average=0.5 averages the command network h: it needs policy=command" \
           "wm_recent=2:bad override 'wm_recent=2' (expected a number in [0, 1])" \
           "collect_starts=anywhere:collect_starts=anywhere: expected reference" \
           "collect_starts=recorded:collect_starts=recorded places the command network's collection: it needs policy=command"; do
  if "$BIN" experiments/quadruped_finetune.lua quick=true out="$tmp/bad3" policy=imitation "${bad%%:*}" \
      >"$tmp/bad.out" 2>&1; then
    fail "${bad%%:*} was accepted"
  fi
  grep -qF "${bad#*:}" "$tmp/bad.out" || fail "${bad%%:*}'s refusal: $(cat "$tmp/bad.out")"
  grep -q "pre-training" "$tmp/bad.out" && fail "${bad%%:*}: pre-trained before refusing"
done

# over UDP: a perturbed robot (2 kg payload, noisy sensors) behind a lockstep bridge; its noise is
# seen in the recorded walk and the fine-tuned h reads it through the observer, as on the host.
# The bridge's watchdog is 5 s: in lockstep nothing moves between commands, and on a loaded
# machine the robot file's 0.1 s tripped inside episodes (safe-command steps the host never
# asked for), the robot fell, and every episode after started fallen (no window to train on)
cat >"$tmp/heavy.lua" <<LUA
local r = dofile "$SRC/robots/quadruped_joint.lua"
r.plants.mujoco.mjcf = "$SRC/robots/quadruped.xml"
r.plants.mujoco.perturb = { payload = 2, noise = 0.01 }
r.safety.watchdog = 5
return r
LUA
start_bridge "$tmp/heavy.lua" 10 --watchdog 5 --reset-on-session
run seed=1 out="$tmp/udp" pretrained="$tmp/q1" plant="udp://127.0.0.1:$port"
grep -q "real robot (the bridge's robot) (udp://127.0.0.1:$port)" "$tmp/run.out" || fail "udp plant"
summary "$tmp/udp" "need(s.perturbations == \"(the bridge's robot)\" and s.payload == 0, 'the bridge decides')
  need(s.velocity_error_floor_mps == nil, 'no floor for a robot the host cannot unperturb')
  need(s.scored_on_truth == false, 'a robot over udp scored on what it reports')
  need(s.observer_active == true and math.abs(s.sensor_noise_estimated - 0.01) < 0.0015
       and type(s.velocity_error_after_raw_mps) == 'number', 'the observer over udp: '
       .. tostring(s.sensor_noise_estimated))"
# a perturbation asked of a robot over udp is refused: the host cannot change the robot
if "$BIN" experiments/quadruped_finetune.lua quick=true library="$tmp/lib" pretrained="$tmp/q1" \
    out="$tmp/bad2" plant="udp://127.0.0.1:$port" payload=1 >"$tmp/bad2.out" 2>&1; then
  fail "payload=1 over udp was accepted"
fi
grep -q "payload=1 needs a plant with the robot's perturbations (plant=mujoco)" "$tmp/bad2.out" ||
  fail "the udp refusal: $(cat "$tmp/bad2.out")"

# the robot stops answering in the middle of the collection (the bridge frozen after round 2 of
# 16): the run stops at once with the reason (not training on its last state repeated), and the
# data recorded so far and the models as they were are kept in finetuned/
bridge=${pids[-1]}
"$BIN" experiments/quadruped_finetune.lua quick=true library="$tmp/lib" pretrained="$tmp/q1" \
  out="$tmp/lost" rounds=16 plant="udp://127.0.0.1:$port" >"$tmp/lost.out" 2>&1 &
host_pid=$!
wait_for "$tmp/lost.out" "round 2:" 60 || fail "the run over udp did not reach round 2"
kill -STOP "$bridge"
status=0
wait "$host_pid" || status=$?
kill -CONT "$bridge"
((status != 0)) || fail "the run went on without the robot: $(grep -c round "$tmp/lost.out") rounds"
grep -q "the robot's state: read: no state from the robot after the last command" "$tmp/lost.out" ||
  fail "the lost robot's error: $(tail -3 "$tmp/lost.out")"
grep -q "stopped in round [0-9]* with [0-9.]* s of robot data; the data (real.bin) and the models" \
  "$tmp/lost.out" || fail "what was kept: $(tail -3 "$tmp/lost.out")"
grep -q "round 16:" "$tmp/lost.out" && fail "the run reached round 16"
for f in real.bin wm.ckpt policy.ckpt command.ckpt; do
  [[ -s $tmp/lost/finetuned/$f ]] || fail "finetuned/$f was not kept"
done
echo "ok"
