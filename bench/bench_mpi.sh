#!/usr/bin/env bash
# bench_mpi.sh BUILD_DIR: spinal.mpi scaling on this machine (docs/distributed.md), one JSON line
# per workload: the time at 2 ranks (spinal_ms) against one process on the same work in the same
# run (reference_ms), speedup = reference_ms / spinal_ms, efficiency = speedup / 2, and the share
# of the 2-rank time spent communicating or waiting (comm_ms). Run by bench/run; never fails on
# timing. Open MPI's root and oversubscription switches are set as tests/mpi/env.sh sets them.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
spinal=$build/spinal
command -v mpirun >/dev/null && [[ -x $spinal ]] || exit 0
source "$here/../tests/mpi/env.sh"
load=$(cut -d' ' -f1 /proc/loadavg)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

line() {  # name ms2 ms1 comm_ms
  awk -v n="$1" -v a="$2" -v b="$3" -v c="$4" -v l="$load" 'BEGIN {
    printf "{\"name\":\"%s\",\"spinal_ms\":%.1f,\"reference\":\"1 process\",\"reference_ms\":%.1f,", n, a, b
    printf "\"ratio\":%.3f,\"speedup\":%.3f,\"efficiency\":%.3f,\"comm_ms\":%s,\"ranks\":2,", a / b, b / a, b / a / 2, c
    printf "\"load_avg\":%s,\"threads\":1}\n", l }'
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# sweep: mismatch_sweep, 4 runs of 3 iterations (the whole job, launcher included)
sweep=(gammas=1,0.5 seeds=2 iters=3)
t0=$(date +%s%N)
"$spinal" "$here/../experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s1" >/dev/null 2>&1
t1=$(date +%s%N)
mpirun2 "$spinal" "$here/../experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s2" \
  >/dev/null 2>&1
t2=$(date +%s%N)
if cmp -s "$tmp/s1/metrics.csv" "$tmp/s2/metrics.csv"; then
  line mpi_sweep_4_runs "$(ms "$t1" "$t2")" "$(ms "$t0" "$t1")" null
fi

# rollouts: 96 car rollouts of 21.5 s (103200 transitions) stepped and gathered on rank 0
one=$("$spinal" "$here/mpi_workloads.lua" rollouts 96 2>/dev/null | grep '^rollouts')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" rollouts 96 2>/dev/null | grep '^rollouts')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ _ <<<"$one"
  read -r _ _ s2 c2 w2 <<<"$two"
  line mpi_rollouts_96x21.5s "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" "$(awk -v c="$c2" -v w="$w2" 'BEGIN{printf "%.1f", (c+w)*1000}')"
fi

# data-parallel training: 10 SGD steps on a 4096-row batch (each rank its share), gradients summed
one=$("$spinal" "$here/mpi_workloads.lua" train 2>/dev/null | grep '^train')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" train 2>/dev/null | grep '^train')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ <<<"$one"
  read -r _ _ s2 c2 <<<"$two"
  line mpi_train_mlp_76k_batch4096_10_steps "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" "$(awk -v c="$c2" 'BEGIN{printf "%.1f", c*1000}')"
fi

# allreduce of a 1 M-parameter network's gradients at 2 ranks
ar=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" allreduce 2>/dev/null | grep '^allreduce')
if [[ -n $ar ]]; then
  read -r _ n s <<<"$ar"
  printf '{"name":"mpi_allreduce_mean_1M_params","spinal_ms":%s,"reference":null,"reference_ms":null,"ratio":null,"ranks":2,"load_avg":%s,"threads":1}\n' \
    "$(awk -v s="$s" 'BEGIN{printf "%.2f", s*1000}')" "$load"
fi
exit 0
