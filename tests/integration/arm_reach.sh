#!/usr/bin/env bash
# arm_reach.sh: experiments/arm_reach.lua (method 1 on the 3-DoF arm: MuJoCo plant with heavier
# links and joint friction, the MJCF's own rigid-body tree as the model) at a small budget. On two
# seeds and one other perturbation the learned policy must beat the nominal LQR clearly, in cost
# and in tip error; the summary keys, run files and progress line must be there, and bad settings
# must be refused naming them. Needs the mujoco backend (skipped, passing, without it).
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
if ! "$BIN" -e 'for _, b in ipairs(require("spinal.hal").backends()) do
                  if b == "mujoco" then os.exit(0) end end os.exit(1)'; then
  echo "arm_reach: mujoco backend not built, skipped"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check FILE LUA-EXPR...: each expression (over s = the decoded summary) must be true
check() {
  local file=$1
  shift
  for expr in "$@"; do
    SUMMARY=$file "$BIN" -e "
      local s = assert(require('spinal.json').read(os.getenv 'SUMMARY'))
      if not ($expr) then io.stderr:write([==[FAIL: $file: $expr]==] .. '\n') os.exit(1) end"
  done
}

# the default perturbation (masses x1.3, 0.3 N m joint friction), 5 Gauss-Newton iterations (the
# default optimiser), two seeds
for seed in 1 2; do
  "$BIN" "$SRC/experiments/arm_reach.lua" iters=5 seed=$seed out="$tmp/arm$seed" \
    >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: seed $seed did not run"; exit 1; }
  grep -q "arm_reach  5/5  100%" "$tmp/out" \
    || { cat "$tmp/out"; echo "FAIL: no progress line"; exit 1; }
  grep -q "nominal LQR" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no table"; exit 1; }
  check "$tmp/arm$seed/summary.json" \
    "s.iters == 5 and s.seed == $seed and s.mass_scale == 1.3 and s.friction == 0.3" \
    "s.optim == 'gn' and #s.costs == 6 and #s.errors_m == 6 and s.costs[1] == s.nominal_cost" \
    "math.abs(s.data_seconds - 5 * 2.0) < 1e-9" \
    "s.closed_loop_rho > 0 and s.closed_loop_rho < 1" \
    "s.nominal_error_m > 0.01 and s.nominal_error_m < 0.02" \
    "s.learned_error_m < 0.1 * s.nominal_error_m" \
    "s.learned_cost < 0.01 * s.nominal_cost"
  for f in settings.json metrics.csv nominal_X.npy learned_U.npy; do
    [ -s "$tmp/arm$seed/$f" ] || { echo "FAIL: arm$seed/$f missing"; exit 1; }
  done
  [ "$(wc -l <"$tmp/arm$seed/metrics.csv")" -eq 7 ] || { echo "FAIL: metrics.csv rows"; exit 1; }
done
if command -v gnuplot >/dev/null; then
  for f in cost.png error.png distance.png; do
    [ -s "$tmp/arm1/$f" ] || { echo "FAIL: arm1/$f missing"; exit 1; }
  done
fi

# a larger perturbation and another target, with Adam (10 iterations)
"$BIN" "$SRC/experiments/arm_reach.lua" iters=10 seed=3 optim=adam mass_scale=1.5 friction=0.6 \
  target=0.4,-0.2,0.45 out="$tmp/other" >/dev/null 2>&1
check "$tmp/other/summary.json" \
  "s.mass_scale == 1.5 and s.friction == 0.6 and s.target[2] == -0.2" \
  "s.nominal_error_m > 0.01 and s.learned_error_m < 0.6 * s.nominal_error_m" \
  "s.learned_cost < 0.5 * s.nominal_cost"

# bad settings are refused, naming them, before a run directory exists
for bad in mass_scale=heavy friction=-1 target=1,2 target=3,0,0; do
  if "$BIN" "$SRC/experiments/arm_reach.lua" "$bad" out="$tmp/bad" >/dev/null 2>"$tmp/err"; then
    echo "FAIL: $bad was accepted"; exit 1
  fi
  key=${bad%%=*}
  grep -q "$key" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: error does not name $key"; exit 1; }
done
echo "arm_reach: ok"
