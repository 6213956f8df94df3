#!/usr/bin/env bash
# mpi_collectives.sh: every spinal.mpi collective (tests/mpi/collectives.lua) under
# `mpirun -np 2`, and the same script as a plain process (a world of one, no MPI started).
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

EXPECT_SIZE=1 "$BIN" "$SRC/tests/mpi/collectives.lua" >"$tmp/one" 2>&1 \
  || { cat "$tmp/one"; exit 1; }
grep -q "all checks passed on 1 rank" "$tmp/one" \
  || { cat "$tmp/one"; echo "FAIL: world of one"; exit 1; }

EXPECT_SIZE=2 mpirun2 "$BIN" "$SRC/tests/mpi/collectives.lua" >"$tmp/two" 2>&1 \
  || { cat "$tmp/two"; exit 1; }
grep -q "all checks passed on 2 rank" "$tmp/two" \
  || { cat "$tmp/two"; echo "FAIL: 2 ranks"; exit 1; }

# a plain process never starts MPI: no launcher, no Open MPI runtime in the process
"$BIN" -e 'local m = require "spinal.mpi"
  assert(m.launched() == nil and m.size() == 1 and m.rank() == 0 and not m.active())' \
  || { echo "FAIL: a plain process started MPI"; exit 1; }
echo "mpi_collectives: ok"
