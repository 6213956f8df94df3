#!/usr/bin/env bash
# mpi_wm_train.sh: data-parallel training of method 2's world model and VAE policy
# (tests/mpi/wm_train.lua) under `mpirun -np 2` and as a plain process: identical parameters on
# every rank after every step, and the loss curve of one process training on the combined batch.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" "$SRC/tests/mpi/wm_train.lua" >one 2>&1 || { cat one; exit 1; }
grep -q "all checks passed on 1 rank" one || { cat one; echo "FAIL: world of one"; exit 1; }
mpirun2 "$BIN" "$SRC/tests/mpi/wm_train.lua" >two 2>&1 || { cat two; exit 1; }
[[ $(grep -c "all checks passed on 2 ranks" two) -eq 2 ]] || { cat two; echo "FAIL: 2 ranks"; exit 1; }
grep "largest relative difference" two
echo "mpi_wm_train: ok"
