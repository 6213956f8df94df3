#!/usr/bin/env bash
# mpi_ppo.sh: data-parallel PPO (tests/mpi/ppo.lua) under `mpirun -np 2` and as one process:
# identical parameters on every rank after every update, the same update as one process on the
# combined batch, each rank stepping its own MuJoCo quadrupeds.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" "$SRC/tests/mpi/ppo.lua" >one 2>&1 || { cat one; exit 1; }
grep -q "PPO: all checks passed on 1 rank" one || { cat one; echo "FAIL: world of one"; exit 1; }
mpirun2 "$BIN" "$SRC/tests/mpi/ppo.lua" >two 2>&1 || { cat two; exit 1; }
grep -q "PPO: all checks passed on 2 rank" two || { cat two; echo "FAIL: 2 ranks"; exit 1; }
echo "mpi_ppo: ok"
