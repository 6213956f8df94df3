#!/usr/bin/env bash
# mpi_train.sh: data-parallel training and parallel data collection (tests/mpi/train.lua) under
# `mpirun -np 2`: identical parameters on every rank after every step, the loss curve of one
# process training on the whole batch, transitions gathered from every rank's plant.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" "$SRC/tests/mpi/train.lua" >one 2>&1 || { cat one; exit 1; }
grep -q "all checks passed on 1 rank" one || { cat one; echo "FAIL: world of one"; exit 1; }
mpirun2 "$BIN" "$SRC/tests/mpi/train.lua" >two 2>&1 || { cat two; exit 1; }
grep -q "all checks passed on 2 rank" two || { cat two; echo "FAIL: 2 ranks"; exit 1; }
echo "mpi_train: ok"
