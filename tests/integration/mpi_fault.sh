#!/usr/bin/env bash
# mpi_fault.sh: a rank that dies (killed, or a script error) ends the whole job with a message
# naming the rank, instead of leaving the others waiting in a collective.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rank 1 is killed (SIGKILL) while rank 0 waits for it in an allreduce
cat >"$tmp/killed.lua" <<'LUA'
local mpi = require "spinal.mpi"
mpi.barrier()
if mpi.rank() == 1 then
  local pid = io.open("/proc/self/stat"):read("a"):match "^(%d+)"
  os.execute("kill -9 " .. pid)
end
mpi.allreduce(1)
print "not reached"
LUA
start=$(date +%s)
if mpi_env timeout -k 5 60 mpirun -np 2 "$BIN" "$tmp/killed.lua" >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: the job succeeded with a killed rank"; exit 1
fi
rc=$?
[ "$rc" -ne 124 ] || { cat "$tmp/out"; echo "FAIL: the job hung after rank 1 was killed"; exit 1; }
grep -q "process rank 1 .*exited on signal 9" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: no message naming rank 1"; exit 1; }
! grep -q "not reached" "$tmp/out" || { echo "FAIL: rank 0 went on"; exit 1; }
echo "killed rank: job ended in $(( $(date +%s) - start )) s"

# rank 1's script raises while rank 0 waits in a broadcast: MPI_Abort, not a hang in finalize
cat >"$tmp/error.lua" <<'LUA'
local mpi = require "spinal.mpi"
if mpi.rank() == 1 then error("boom on purpose") end
mpi.broadcast(nil, 1)
LUA
if mpi_env timeout -k 5 60 mpirun -np 2 "$BIN" "$tmp/error.lua" >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: the job succeeded with a failed rank"; exit 1
fi
rc=$?
[ "$rc" -ne 124 ] || { cat "$tmp/out"; echo "FAIL: the job hung after rank 1 failed"; exit 1; }
grep -q "boom on purpose" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: the error is not shown"; exit 1; }
grep -q "spinal.mpi: rank 1 of 2 failed" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: rank not named"; exit 1; }
# os.exit under MPI: status 0 on every rank ends the job normally; another status on one rank
# while the other waits aborts it
mpi_env timeout -k 5 60 mpirun -np 2 "$BIN" -e 'local m = require "spinal.mpi"; m.barrier(); os.exit(0)' \
  >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: os.exit(0) everywhere failed the job"; exit 1; }
if mpi_env timeout -k 5 60 mpirun -np 2 "$BIN" -e 'local m = require "spinal.mpi"
    if m.rank() == 1 then os.exit(3) end
    m.barrier()' >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: os.exit(3) on rank 1 did not fail the job"; exit 1
fi
[ $? -ne 124 ] || { cat "$tmp/out"; echo "FAIL: the job hung after os.exit(3)"; exit 1; }
grep -q "spinal.mpi: rank 1 of 2 failed" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: os.exit(3)"; exit 1; }

# collectives given different shapes on different ranks end the job, naming the ranks
cat >"$tmp/shapes.lua" <<'LUA'
local sp = require "spinal"
local mpi, A = sp.mpi, sp.array
if os.getenv "WHAT" == "broadcast" then
  mpi.broadcast(A.zeros(3 + mpi.rank()))
else
  mpi.gather(A.zeros(2, 2 + mpi.rank()))
end
LUA
for what in broadcast gather; do
  if WHAT=$what mpi_env timeout -k 5 60 mpirun -np 2 -x WHAT "$BIN" "$tmp/shapes.lua" >"$tmp/out" 2>&1; then
    cat "$tmp/out"; echo "FAIL: $what with different shapes succeeded"; exit 1
  fi
done
grep -q "mpi.gather: rank 1 sent an array of shape (2, 3); rank 0's rows have another shape" \
  "$tmp/out" || { cat "$tmp/out"; echo "FAIL: gather's message"; exit 1; }
WHAT=broadcast mpi_env timeout -k 5 60 mpirun -np 2 -x WHAT "$BIN" "$tmp/shapes.lua" >"$tmp/out" 2>&1 \
  || true
grep -q "mpi.broadcast: rank 1 holds an array of 4 elements, the root (rank 0) sent 3" \
  "$tmp/out" || { cat "$tmp/out"; echo "FAIL: broadcast's message"; exit 1; }
echo "mpi_fault: ok"
