#!/usr/bin/env bash
# mpi_imitate.sh: method 2's loop split over the ranks of an MPI job. tests/mpi/imitate.lua under
# `mpirun -np 2` and as one process (every rank holds the same networks, normalisers, start
# records and counters after every iteration, bit for bit; each rank stepped its share of the
# transitions on its own MuJoCo plant; the sample count is the budget), then
# experiments/quadruped_imitate.lua under `mpirun -np 2` on a clip file: one run directory
# written by rank 0, recording both ranks, with the budget's samples; interrupted and resumed on
# 2 ranks, it ends in the uninterrupted run's state byte for byte.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" "$SRC/tests/mpi/imitate.lua" >one 2>&1 || { cat one; exit 1; }
grep -q "imitate: 303 samples (budget 303); all checks passed on 1 rank" one \
  || { cat one; echo "FAIL: world of one"; exit 1; }
mpirun2 "$BIN" "$SRC/tests/mpi/imitate.lua" >two 2>&1 || { cat two; exit 1; }
[ "$(grep -c "imitate: 303 samples (budget 303); all checks passed on 2 ranks" two)" = 2 ] \
  || { cat two; echo "FAIL: 2 ranks"; exit 1; }

# the experiment as a user launches it: a walking clip written as a clip file
"$BIN" -e "
  local A = require 'spinal.array'
  local rows = {}
  for i = 1, 120 do
    local r = { 0.3 * (i - 1) * 0.02, 0, 0.285, 1, 0, 0, 0 }
    for j = 1, 12 do r[7 + j] = ({ 0, 0.9, -1.8 })[(j - 1) % 3 + 1] + 0.1 * math.sin(i / 5 + j) end
    rows[i] = r
  end
  assert(require('spinal.motion').clip { frames = A(rows), frame_duration = 0.02 }:save('walk.json'))" \
  || { echo "FAIL: writing the clip"; exit 1; }
cd "$SRC"
mpirun2 "$BIN" experiments/quadruped_imitate.lua quick=true train_clips="$tmp/walk.json" \
  samples=1200 collect=400 wm_iters=4 eval_every=3 out="$tmp/run" >"$tmp/out" 2>&1 \
  || { cat "$tmp/out"; echo "FAIL: quadruped_imitate under mpirun"; exit 1; }
grep -q "3 iterations of 400 samples; run $tmp/run (2 ranks)" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: no start line"; exit 1; }
[ "$(grep -c "held out 1 clips" "$tmp/out")" = 1 ] \
  || { cat "$tmp/out"; echo "FAIL: the result line is not printed once (by rank 0)"; exit 1; }
ls -d "$tmp"/run* | grep -qv "^$tmp/run$" && { ls -d "$tmp"/run*; echo "FAIL: a second run directory"; exit 1; }
[ "$(wc -l <"$tmp/run/metrics.csv")" = 4 ] || { cat "$tmp/run/metrics.csv"; echo "FAIL: metrics rows"; exit 1; }
RUN="$tmp/run" "$BIN" -e "
  local json = require 'spinal.json'
  local dir = os.getenv 'RUN'
  local s = assert(json.read(dir .. '/summary.json'))
  local st = assert(json.read(dir .. '/settings.json'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(s.env_samples == 1200, 'env_samples ' .. tostring(s.env_samples) .. ' is the budget 1200')
  need(s.ranks == 2 and s.iterations == 3, 'summary ranks and iterations')
  need(st.mpi and st.mpi.shared == true and #st.mpi.ranks == 2, 'settings.json records both ranks')"
for f in ckpt/wm.ckpt ckpt/policy.ckpt ckpt/replay.bin ckpt/loop.json heldout_1_qpos.npy; do
  [ -s "$tmp/run/$f" ] || { ls "$tmp/run"; echo "FAIL: $f missing"; exit 1; }
done
# a robot over UDP cannot be stepped by two ranks: refused before any run directory is made
if mpirun2 "$BIN" experiments/quadruped_imitate.lua quick=true train_clips="$tmp/walk.json" \
  plant=udp://127.0.0.1:9 out="$tmp/udp" >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: plant=udp under 2 ranks"; exit 1
fi
grep -q "quadruped_imitate: plant=udp://127.0.0.1:9 under 2 ranks: every rank steps its own plant, and one robot cannot be shared (use plant=mujoco, or one process)" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: the udp message"; exit 1; }
[ ! -e "$tmp/udp" ] || { echo "FAIL: a refused run made its directory"; exit 1; }

# interrupted after iteration 2 and resumed, both on 2 ranks: the same end state, byte for byte
im() { mpirun2 "$BIN" experiments/quadruped_imitate.lua "$@" >"$tmp/out" 2>&1 \
  || { cat "$tmp/out"; echo "FAIL: quadruped_imitate $*"; exit 1; }; }
im quick=true train_clips="$tmp/walk.json" samples=1200 collect=400 wm_iters=4 eval_every=3 \
  out="$tmp/cut" stop=2
im resume="$tmp/cut"
grep -q "resumed .* at iteration 2 (800 samples)" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: resume"; exit 1; }
for f in ckpt/wm.ckpt ckpt/policy.ckpt ckpt/replay.bin ckpt/starts.npy heldout_1_X.npy metrics.csv; do
  cmp -s "$tmp/run/$f" "$tmp/cut/$f" || { echo "FAIL: resumed $f differs"; exit 1; }
done
echo "mpi_imitate: ok"
