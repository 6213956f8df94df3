#!/usr/bin/env bash
# quadruped_experiments.sh: the quadruped experiments in quick mode (quick=true), written to a
# temporary out=DIR, with their summary.json keys and sanity checked: quadruped_figure8 on the
# model plant (and on the MuJoCo quadruped when the robot file has that plant and the backend is
# built), its refusals, and quadruped_walk on the MuJoCo quadruped.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

. "$SRC/tests/integration/lib/summary.sh"  # check FILE LUA-EXPR...
fig8() { "$BIN" "$SRC/experiments/quadruped_figure8.lua" "$@"; }
model() { fig8 plant=model "$@"; }  # the unicycle stand-in: a few seconds per run

# the figure-eight on the model plant: quick, then a real budget on two seeds and other settings
model quick=true out="$tmp/quick" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "quick run"; }
grep -q "nominal tracker" "$tmp/out" || { cat "$tmp/out"; fail "no table"; }
check "$tmp/quick/summary.json" \
  "s.iters == 2 and s.seed == 1 and s.speed == 0.96 and s.radius == 1.5 and s.plant == 'model'" \
  "math.abs(s.period - 4 * math.pi * 1.5 / s.speed) < 1e-9 and s.laps == 0.5" \
  "#s.costs == 3 and #s.radial_errors_m == 3 and #s.falls_per_iter == 3 and s.falls == 0" \
  "s.nominal_radial_error_m == s.radial_errors_m[1] and s.learned_radial_error_m == s.radial_errors_m[3]" \
  "s.nominal_radial_error_m > 0 and s.learned_radial_error_m > 0" \
  "math.abs(s.data_seconds - 2 * s.seconds) < 0.2 and s.eval_seconds > 0" \
  "s.payload == 0 and s.friction == 1 and s.frictionloss == 0 and s.latency == 0 and #s.perturbations == 0"
for f in settings.json metrics.csv policy.ckpt nominal_X.npy learned_U.npy; do
  [ -s "$tmp/quick/$f" ] || fail "quick/$f missing"
done
[ "$(wc -l <"$tmp/quick/metrics.csv")" -eq 4 ] || fail "metrics.csv rows"
for seed in 1 2; do
  model seed=$seed out="$tmp/s$seed" >/dev/null 2>&1 || fail "seed $seed"
  check "$tmp/s$seed/summary.json" "s.iters == 10 and s.seed == $seed" \
    "math.abs(s.data_seconds - 10 * s.seconds) < 1" \
    "s.learned_radial_error_m <= 0.5 * s.nominal_radial_error_m and s.falls == 0"
done
model speed=0.8 radius=1 seed=3 out="$tmp/other" >/dev/null 2>&1 || fail "speed=0.8 radius=1"
check "$tmp/other/summary.json" "s.speed == 0.8 and s.radius == 1" \
  "s.learned_radial_error_m <= 0.5 * s.nominal_radial_error_m"

# refusals: a perturbation on the model plant, an out-of-range speed
if model payload=2 out="$tmp/bad" >/dev/null 2>"$tmp/err"; then fail "payload=2 on the model plant"; fi
grep -qF "quadruped_figure8: payload=2 needs a plant with the robot's perturbations (plant=mujoco); plant=model is a model plant" "$tmp/err" \
  || { cat "$tmp/err"; fail "payload refusal message"; }
if model speed=1.5 out="$tmp/bad" >/dev/null 2>"$tmp/err"; then fail "speed=1.5 accepted"; fi
grep -qF "bad override 'speed=1.5' (expected a number > 0 and <= 1)" "$tmp/err" \
  || { cat "$tmp/err"; fail "speed refusal message"; }

# the MuJoCo quadruped, when built and described by the robot file
if SRC=$SRC "$BIN" -e 'local ok = false
    for _, b in ipairs(require("spinal.hal").backends()) do ok = ok or b == "mujoco" end
    local r = require("spinal.robot").load(os.getenv("SRC") .. "/robots/quadruped.lua")
    os.exit(ok and r:plant_config("mujoco") and 0 or 1)' 2>/dev/null; then
  fig8 quick=true plant=mujoco out="$tmp/mj" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "mujoco quick"; }
  check "$tmp/mj/summary.json" "s.plant == 'mujoco' and s.iters == 2 and #s.costs == 3" \
    "s.falls == 0 and s.nominal_radial_error_m > 0 and s.learned_radial_error_m > 0"
  fig8 quick=true plant=mujoco payload=1.5 friction=0.7 out="$tmp/mjp" >/dev/null 2>&1 \
    || fail "mujoco quick with perturbations"
  check "$tmp/mjp/summary.json" "s.payload == 1.5 and s.friction == 0.7" \
    "#s.perturbations == 2 and s.perturbations[1] == 'friction' and s.perturbations[2] == 'payload'"

  "$BIN" "$SRC/experiments/quadruped_walk.lua" quick=true out="$tmp/walk" >"$tmp/out" 2>&1 \
    || { cat "$tmp/out"; fail "walk quick"; }
  grep -q "mean absolute error" "$tmp/out" || { cat "$tmp/out"; fail "walk: no table"; }
  check "$tmp/walk/summary.json" "s.hold == 1.5 and s.plant == 'mujoco' and s.falls == 0" \
    "s.mean_abs_error_vx >= 0 and s.mean_abs_error_vx < 0.5 and s.mean_abs_error_wz < 0.8" \
    "s.mean_abs_error_vy >= 0 and s.commands_scored == #s.segment_labels" \
    "#s.segment_error_vx == #s.segment_labels and #s.segment_labels > 10" \
    "s.slip_speed_mps >= 0 and s.slip_share >= 0 and s.slip_share <= 1" \
    "s.cost_of_transport > 0 and s.cost_of_transport < 10 and s.distance_m > 1" \
    "s.mass_kg > 10 and s.mass_kg < 15"
  for f in walk.xml walk_X.npy walk.json segments.csv; do
    [ -s "$tmp/walk/$f" ] || fail "walk/$f missing"
  done
else
  echo "quadruped_experiments: no MuJoCo quadruped plant: the MuJoCo runs are skipped"
fi
echo "quadruped_experiments: ok"
