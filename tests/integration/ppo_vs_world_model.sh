#!/usr/bin/env bash
# ppo_vs_world_model.sh: experiments/ppo_vs_world_model.lua quick=true as a user runs it (method 2
# and PPO on the quick gait library, two seeds each, built in a temporary directory): the run holds
# the plot, the curves and a summary with the documented flat keys, consistent with each other
# (the target is method 2's worst final error; a ratio, or a lower bound when PPO fell short).
# Then combine= of that run alone gives the same summary. Under two minutes.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" "$SRC/experiments/ppo_vs_world_model.lua" quick=true out="$tmp/q" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: quick run"; exit 1; }
grep -q "^ppo_vs_world_model: target " "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no result line"; exit 1; }
for f in settings.json metrics.csv summary.json curves.json samples_vs_error.dat; do
  [ -s "$tmp/q/$f" ] || { echo "FAIL: q/$f missing"; exit 1; }
done
"$BIN" "$SRC/experiments/ppo_vs_world_model.lua" quick=true combine="$tmp/q" out="$tmp/c" >"$tmp/out2" 2>&1 ||
  { cat "$tmp/out2"; echo "FAIL: combine"; exit 1; }
S="$tmp/q/summary.json" C="$tmp/c/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local s, c = assert(json.read(os.getenv 'S')), assert(json.read(os.getenv 'C'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(#s.seeds == 2 and s.seeds[1] == 1 and s.seeds[2] == 2, 'seeds 1 and 2')
  need(math.max(s.wm_final_error_seed1, s.wm_final_error_seed2) == s.target_error,
       'the target is method 2 worst final error')
  need(s.target_error > 0 and s.target_error < 1, 'a plausible joint error')
  need(s.wm_samples_to_target > 0 and s.wm_samples_to_target <= 2400, 'method 2 within its budget')
  need(s.ppo_budget_samples == 2432, 'PPO: 38 iterations of 8 x 8, the budget of 1 x 2400 rounded up')
  if s.ppo_samples_to_target == json.null then
    need(s.sample_ratio == nil and s.sample_ratio_lower_bound > 0, 'a lower bound when PPO fell short')
  else
    need(math.abs(s.sample_ratio - s.ppo_samples_to_target / s.wm_samples_to_target) < 1e-12, 'the ratio')
  end
  -- the other way round: the error every PPO seed reached, and both methods' samples to it
  need(s.ppo_reached_error >= s.ppo_best_error, 'every PPO seed reached ppo_reached_error')
  need(s.ppo_samples_to_ppo_error > 0 and s.ppo_samples_to_ppo_error <= 2432, 'PPO samples to its error')
  if s.wm_samples_to_ppo_error ~= json.null then
    need(math.abs(s.sample_ratio_at_ppo_error - s.ppo_samples_to_ppo_error / s.wm_samples_to_ppo_error)
         < 1e-12, 'the ratio at PPO error')
  end
  for _, k in ipairs { 'target_error', 'wm_samples_to_target', 'ppo_budget_samples', 'ppo_best_error',
                       'ppo_reached_error', 'sample_ratio_at_ppo_error' } do
    need(s[k] == c[k], k .. ' is the same from combine=')
  end"
# bad lists and runs are refused, naming the setting, before anything is trained
bad() {
  if "$BIN" "$SRC/experiments/ppo_vs_world_model.lua" quick=true out="$tmp/bad" "$1" >"$tmp/out3" 2>&1; then
    echo "FAIL: $1 was accepted"; exit 1
  fi
  grep -qF "$2" "$tmp/out3" || { cat "$tmp/out3"; echo "FAIL: $1's message"; exit 1; }
  grep -q "PPO seed\|method 2 seed" "$tmp/out3" && { echo "FAIL: $1: trained before refusing"; exit 1; }
  return 0
}
bad seeds=1,2,x "seeds=1,2,x: expected a comma-separated list of integers >= 0"
bad hidden=64,0 "hidden=64,0: expected a comma-separated list of integers >= 1"
bad wm_runs="$tmp/nothing" "wm_runs: $tmp/nothing is not a quadruped_imitate run"
bad combine="$tmp/nothing" "combine: no curves.json in $tmp/nothing"
bad method=x "method=x: expected both, wm or ppo"
echo "ok"
