#!/usr/bin/env bash
# experiments.sh: every experiment at a tiny budget, written to a temporary out=DIR, with its
# summary.json keys and sanity checked. car_figure8 runs at a small but real budget on three seeds
# (and once with other mismatch, track size and period): the learned policy must beat the
# nominal tracker's radial error clearly, as `make demo` promises.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$SRC/tests/integration/lib/summary.sh"  # check FILE LUA-EXPR...

# car_figure8: 8 iterations (~3 min of plant data), three seeds, then other settings
for seed in 1 2 3; do
  "$BIN" "$SRC/experiments/car_figure8.lua" iters=8 seed=$seed out="$tmp/car$seed" >"$tmp/out" 2>&1
  grep -q "nominal tracker" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no table"; exit 1; }
  check "$tmp/car$seed/summary.json" \
    "s.iters == 8 and s.seed == $seed and s.gamma == 0.5 and s.radius == 1.5 and s.period == 5.5" \
    "math.abs(s.nominal_radial_error_m - 0.335) < 0.02" \
    "s.learned_radial_error_m < 0.6 * s.nominal_radial_error_m" \
    "#s.costs == 9 and s.costs[9] < s.costs[1] / 2" \
    "math.abs(s.data_seconds - 8 * 21.5) < 1e-9"
  for f in settings.json metrics.csv nominal_X.npy learned_U.npy; do
    [ -s "$tmp/car$seed/$f" ] || { echo "FAIL: car$seed/$f missing"; exit 1; }
  done
  [ "$(wc -l <"$tmp/car$seed/metrics.csv")" -eq 10 ] || { echo "FAIL: metrics.csv rows"; exit 1; }
done
if command -v gnuplot >/dev/null; then
  for f in radial_error.png cost.png path.png; do
    [ -s "$tmp/car1/$f" ] || { echo "FAIL: car1/$f missing"; exit 1; }
  done
fi
"$BIN" "$SRC/experiments/car_figure8.lua" iters=10 seed=4 gamma=0.25 radius=1.2 period=6 \
  out="$tmp/car_other" >/dev/null 2>&1
check "$tmp/car_other/summary.json" "s.gamma == 0.25 and s.radius == 1.2 and s.period == 6" \
  "s.learned_radial_error_m < 0.6 * s.nominal_radial_error_m"

# a bad override is refused, naming it
if "$BIN" "$SRC/experiments/car_figure8.lua" gamma=half out="$tmp/bad" >/dev/null 2>"$tmp/err"; then
  echo "FAIL: gamma=half was accepted"; exit 1
fi
grep -q "gamma=half" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: error does not name it"; exit 1; }

# car_mujoco: the MuJoCo car (when the backend is built), 6 iterations
if "$BIN" -e 'for _, b in ipairs(require("spinal.hal").backends()) do
                if b == "mujoco" then os.exit(0) end end os.exit(1)'; then
  "$BIN" "$SRC/experiments/car_mujoco.lua" iters=6 out="$tmp/mujoco" >/dev/null 2>&1
  check "$tmp/mujoco/summary.json" "s.plant == 'mujoco' and s.iters == 6 and #s.costs == 7" \
    "s.nominal_radial_error_m > 0.3 and s.nominal_radial_error_m < 0.6" \
    "s.learned_radial_error_m < 0.85 * s.nominal_radial_error_m"
fi

# mismatch_sweep: two gammas, two seeds, three iterations
"$BIN" "$SRC/experiments/mismatch_sweep.lua" gammas=1,0.5 seeds=2 iters=3 out="$tmp/sweep" \
  >/dev/null 2>&1
check "$tmp/sweep/summary.json" \
  "s.final_cost_mean['1'] > 0 and s.final_cost_mean['0.5'] > 0" \
  "s.final_cost_sd['1'] >= 0 and s.final_cost_sd['0.5'] >= 0" \
  "s.final_cost_mean['0.5'] < s.nominal_cost and s.final_cost_mean['0.75'] == nil"

# pendulum_feedback: two seeds, four iterations
"$BIN" "$SRC/experiments/pendulum_feedback.lua" seeds=2 iters=4 out="$tmp/pend" >/dev/null 2>&1
check "$tmp/pend/summary.json" \
  "s.seeds == 2 and s.success_rate.feedback >= 0 and s.success_rate.open_loop_mismatch <= 1" \
  "s.final_cost_median.feedback < s.final_cost_median.open_loop" \
  "s.grad_norm_median.feedback < s.grad_norm_median.open_loop" \
  "s.closed_loop_rho.feedback < 1 and s.closed_loop_rho.feedback_mismatch < 1"

# estimators: one seed, a few updates each
"$BIN" "$SRC/experiments/estimators.lua" seeds=1 budget=130 rollouts=2 pairs=1 \
  out="$tmp/est" >/dev/null 2>&1
check "$tmp/est/summary.json" \
  "s.data_seconds_to_target.feedback ~= null and s.data_seconds_to_target.feedback <= 130" \
  "s.data_seconds_to_target.model_bptt ~= nil and s.data_seconds_to_target.es ~= nil" \
  "s.data_seconds_to_target.reinforce ~= nil" \
  "s.final_cost_mean.feedback < s.nominal_cost"
echo "experiments: ok"
