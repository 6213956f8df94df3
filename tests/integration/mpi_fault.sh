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
if timeout -k 5 60 mpirun -np 2 "$BIN" "$tmp/killed.lua" >"$tmp/out" 2>&1; then
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
if timeout -k 5 60 mpirun -np 2 "$BIN" "$tmp/error.lua" >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: the job succeeded with a failed rank"; exit 1
fi
rc=$?
[ "$rc" -ne 124 ] || { cat "$tmp/out"; echo "FAIL: the job hung after rank 1 failed"; exit 1; }
grep -q "boom on purpose" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: the error is not shown"; exit 1; }
grep -q "spinal.mpi: rank 1 of 2 failed" "$tmp/out" \
  || { cat "$tmp/out"; echo "FAIL: rank not named"; exit 1; }
echo "mpi_fault: ok"
