#!/usr/bin/env bash
# wm_cartpole.sh: experiments/wm_cartpole.lua quick=true on two seeds, as a user runs it: the run
# directory holds the summary, metrics, plot data and the world-model checkpoint, and the trained
# model's held-out joint-angle error is a tenth of the untrained model's at horizons 1 and 8, with
# the error growing with the horizon. A few seconds.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for seed in 1 2; do
  "$BIN" "$SRC/experiments/wm_cartpole.lua" quick=true seed=$seed out="$tmp/r$seed" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; echo "FAIL: seed $seed"; exit 1; }
  SUMMARY="$tmp/r$seed/summary.json" "$BIN" -e "
    local json = require 'spinal.json'
    local s = assert(json.read(os.getenv 'SUMMARY'))
    local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
    need(s.env_samples == 2000, 'env_samples')
    need(#s.error_by_horizon == 24 and #s.baseline_by_horizon == 24, 'per-horizon lists')
    need(s.wm_error_h1 < 0.1 * s.baseline_by_horizon[1], 'h1 error a tenth of the baseline')
    need(s.wm_error_h8 < 0.1 * s.baseline_error_h8, 'h8 error a tenth of the baseline')
    need(s.wm_error_h8 > s.wm_error_h1, 'error grows with the horizon')
    need(type(s.wall_seconds) == 'number', 'wall_seconds')"
  for f in settings.json metrics.csv wm.ckpt; do
    [ -s "$tmp/r$seed/$f" ] || { echo "FAIL: r$seed/$f missing"; exit 1; }
  done
done
echo "ok"
