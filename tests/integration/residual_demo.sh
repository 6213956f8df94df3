#!/usr/bin/env bash
# residual_demo.sh: experiments/residual_demo.lua (a learned residual model) at a small budget,
# on three seeds. The learned residual must beat the approximate model alone on held-out data,
# and the run must print its progress and table.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
for seed in 1 2 3; do
  out=$("$BIN" "$SRC/experiments/residual_demo.lua" seconds=20 iters=400 seed=$seed 2>&1)
  echo "$out" | tail -5
  grep -q 'fit residual  400/400  100%' <<<"$out" || { echo "FAIL: no final progress line"; exit 1; }
  before=$(awk '/^  model \(gamma/ {print $(NF-1)}' <<<"$out")
  after=$(awk '/^  model \+ learned/ {print $(NF-1)}' <<<"$out")
  awk -v b="$before" -v a="$after" 'BEGIN { exit !(a > 0 && a < b / 3) }' \
    || { echo "FAIL: seed $seed: learned speed error $after is not 3x below the model's $before"; exit 1; }
done
# a bad override is refused with a message naming it
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if "$BIN" "$SRC/experiments/residual_demo.lua" iters=many >/dev/null 2>"$err"; then
  echo "FAIL: iters=many was accepted"; exit 1
fi
grep -q "iters=many" "$err" || { echo "FAIL: error does not name the override:"; cat "$err"; exit 1; }
