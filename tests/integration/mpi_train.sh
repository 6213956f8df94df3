#!/usr/bin/env bash
# mpi_train.sh: data-parallel training under `mpirun -np 2` and as a plain process: identical
# parameters on every rank after every step and the loss curve of one process training on the
# whole batch, for an MLP with parallel data collection (tests/mpi/train.lua: transitions gathered
# from every rank's plant) and for method 2's world model and VAE policy (tests/mpi/wm_train.lua).
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for t in train wm_train; do
  "$BIN" "$SRC/tests/mpi/$t.lua" >one 2>&1 || { cat one; exit 1; }
  grep -q "all checks passed on 1 rank" one || { cat one; echo "FAIL: $t: world of one"; exit 1; }
  mpirun2 "$BIN" "$SRC/tests/mpi/$t.lua" >two 2>&1 || { cat two; exit 1; }
  grep -q "all checks passed on 2 rank" two || { cat two; echo "FAIL: $t: 2 ranks"; exit 1; }
  grep "largest relative difference" two || true
done
echo "mpi_train: ok"
