#!/usr/bin/env bash
# mpi_hostfile.sh: the cluster launch paths of docs/distributed.md on this machine.
# 1. `mpirun --hostfile FILE` with a hostfile of `localhost slots=2` (no oversubscription): without
#    -np the job has one rank per slot and every collective works (tests/mpi/collectives.lua);
#    -np 3 is refused for want of slots (so the hostfile is what was read); the documented sweep
#    command `mpirun -np 2 --hostfile hosts spinal experiments/mismatch_sweep.lua ...` writes the
#    single-process run's metrics.csv into one shared run directory.
# 2. Slurm's environment as srun and sbatch leave it (simulated: no Slurm here): a task of a
#    2-task step that srun started without an MPI plugin (no PMIX_RANK) refuses spinal.mpi,
#    naming `srun --mpi=pmix`, instead of running the whole job once per task into the same
#    files; a script that never uses spinal.mpi still runs there, its run directory suffixed by
#    the task; and a plain run inside a batch script (SLURM_PROCID and SLURM_NTASKS but no job
#    step) is a world of one without MPI.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
unset OMPI_MCA_rmaps_base_oversubscribe  # the hostfile's slots decide
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
printf 'localhost slots=2\n' >hosts
hf() { mpi_env timeout -k 5 120 mpirun --hostfile hosts "$@"; }

EXPECT_SIZE=2 hf "$BIN" "$SRC/tests/mpi/collectives.lua" >out 2>&1 || { cat out; exit 1; }
grep -q "all checks passed on 2 rank" out || { cat out; echo "FAIL: hostfile: 2 ranks"; exit 1; }
if hf -np 3 "$BIN" -e 'print "ran"' >out 2>&1; then
  cat out; echo "FAIL: 3 ranks started on 2 slots"; exit 1
fi
grep -q "There are not enough slots available" out || { cat out; echo "FAIL: no slots message"; exit 1; }

sweep=(gammas=1 seeds=2 iters=1 seconds=5)
"$BIN" "$SRC/experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s1" >log 2>&1 \
  || { cat log; exit 1; }
hf -np 2 "$BIN" "$SRC/experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s2" >log 2>&1 \
  || { cat log; exit 1; }
cmp "$tmp/s1/metrics.csv" "$tmp/s2/metrics.csv" || { echo "FAIL: hostfile sweep metrics differ"; exit 1; }
grep -q '"ranks": \[0,1\]' "$tmp/s2/settings.json" || { echo "FAIL: settings.json ranks"; exit 1; }
[ ! -e "$tmp/s2-rank1" ] || { echo "FAIL: a shared run made a second directory"; exit 1; }

# Slurm: a task of `srun -n 2` without --mpi=pmix (the cluster's MpiDefault=none)
step() { env -u OMPI_COMM_WORLD_RANK -u PMIX_RANK -u PMI_RANK SLURM_JOB_ID=7 SLURM_STEP_ID=0 \
  SLURM_PROCID="$1" SLURM_STEP_NUM_TASKS=2 SLURM_NTASKS=2 "${@:2}"; }
if step 1 "$BIN" -e 'print(require("spinal.mpi").rank())' >out 2>&1; then
  cat out; echo "FAIL: spinal.mpi ran in a Slurm step without MPI"; exit 1
fi
grep -qF 'spinal.mpi: task 1 of 2 of a Slurm job step that srun started without MPI (no PMIX_RANK or PMI_RANK in the environment): launch it with `srun --mpi=pmix` (docs/distributed.md)' out \
  || { cat out; echo "FAIL: the Slurm message"; exit 1; }
step 1 "$BIN" -e 'local r = require("spinal.run").start { name = "plain", out = "'"$tmp"'/plain" }
  assert(r.dir:match "plain%-rank1$", r.dir)' >out 2>&1 || { cat out; echo "FAIL: plain script in a step"; exit 1; }
grep -q '"ranks": \[1\]' "$tmp/plain-rank1/settings.json" || { echo "FAIL: the step task's settings"; exit 1; }
# a batch script's own environment: not a step task, no launcher
env -u OMPI_COMM_WORLD_RANK -u PMIX_RANK -u PMI_RANK SLURM_JOB_ID=7 SLURM_PROCID=0 SLURM_NTASKS=4 \
  "$BIN" -e 'local m = require "spinal.mpi"
  assert(m.launched() == nil and m.size() == 1 and not m.active())' >out 2>&1 \
  || { cat out; echo "FAIL: a batch script's plain run"; exit 1; }
echo "mpi_hostfile: ok"
