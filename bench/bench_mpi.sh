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

# name ms2 ms1 comm_ms cpu1_ms cpu2_ms: cpu_speedup = the one process's CPU time over the largest
# CPU time of a rank (the speed-up with a free core per rank; the wall-clock one depends on load)
line() {
  awk -v n="$1" -v a="$2" -v b="$3" -v c="$4" -v c1="$5" -v c2="$6" -v l="$load" 'BEGIN {
    printf "{\"name\":\"%s\",\"spinal_ms\":%.1f,\"reference\":\"1 process\",", n, a
    printf "\"reference_ms\":%.1f,\"ratio\":%.3f,\"speedup\":%.3f,\"efficiency\":%.3f,", b, a / b, b / a, b / a / 2
    printf "\"comm_ms\":%s,\"cpu_ms_1\":%.1f,\"cpu_ms_max_rank\":%.1f,\"cpu_speedup\":%.3f,", c, c1, c2, c1 / c2
    printf "\"ranks\":2,\"load_avg\":%s,\"threads\":1}\n", l }'
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# sweep: mismatch_sweep, 4 runs of 3 iterations (the whole job, launcher included); CPU: the
# processes' user + system time (2 ranks: half the total, the work being split evenly)
sweep=(gammas=1,0.5 seeds=2 iters=3)
TIMEFORMAT='%U %S'
t0=$(date +%s%N)
c1=$( { time "$spinal" "$here/../experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s1" \
  >/dev/null 2>&1; } 2>&1 | awk '{ printf "%.1f", ($1 + $2) * 1000 }')
t1=$(date +%s%N)
c2=$( { time mpirun2 "$spinal" "$here/../experiments/mismatch_sweep.lua" "${sweep[@]}" \
  out="$tmp/s2" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%.1f", ($1 + $2) * 1000 / 2 }')
t2=$(date +%s%N)
if cmp -s "$tmp/s1/metrics.csv" "$tmp/s2/metrics.csv"; then
  line mpi_sweep_4_runs "$(ms "$t1" "$t2")" "$(ms "$t0" "$t1")" null "$c1" "$c2"
fi

# rollouts: 96 car rollouts of 21.5 s (103200 transitions) stepped and gathered on rank 0
one=$("$spinal" "$here/mpi_workloads.lua" rollouts 96 2>/dev/null | grep '^rollouts')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" rollouts 96 2>/dev/null | grep '^rollouts')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ _ u1 <<<"$one"
  read -r _ _ s2 c2 w2 u2 <<<"$two"
  line mpi_rollouts_96x21.5s "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" \
    "$(awk -v c="$c2" -v w="$w2" 'BEGIN{printf "%.1f", (c+w)*1000}')" \
    "$(awk -v s="$u1" 'BEGIN{print s*1000}')" "$(awk -v s="$u2" 'BEGIN{print s*1000}')"
fi

# data-parallel training: 10 SGD steps on a 4096-row batch (each rank its share), gradients summed
one=$("$spinal" "$here/mpi_workloads.lua" train 2>/dev/null | grep '^train')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" train 2>/dev/null | grep '^train')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ u1 <<<"$one"
  read -r _ _ s2 c2 u2 <<<"$two"
  line mpi_train_mlp_76k_batch4096_10_steps "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" "$(awk -v c="$c2" 'BEGIN{printf "%.1f", c*1000}')" \
    "$(awk -v s="$u1" 'BEGIN{print s*1000}')" "$(awk -v s="$u2" 'BEGIN{print s*1000}')"
fi

# data-parallel world model (method 2): 10 batches of 256 windows of 8 steps, the default model
one=$("$spinal" "$here/mpi_workloads.lua" wm 2>/dev/null | grep '^wm')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" wm 2>/dev/null | grep '^wm')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ u1 <<<"$one"
  read -r _ _ s2 c2 u2 <<<"$two"
  line mpi_train_wm_148k_b256_n8_10_steps "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" "$(awk -v c="$c2" 'BEGIN{printf "%.1f", c*1000}')" \
    "$(awk -v s="$u1" 'BEGIN{print s*1000}')" "$(awk -v s="$u2" 'BEGIN{print s*1000}')"
fi

# method 2's collection: 2000 transitions of the VAE policy on MuJoCo, each rank its share, merged
one=$("$spinal" "$here/mpi_workloads.lua" imitate 2>/dev/null | grep '^imitate')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" imitate 2>/dev/null | grep '^imitate')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 _ u1 <<<"$one"
  read -r _ _ s2 c2 u2 <<<"$two"
  line mpi_imitate_collect_2000 "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" "$(awk -v c="$c2" 'BEGIN{printf "%.1f", c*1000}')" \
    "$(awk -v s="$u1" 'BEGIN{print s*1000}')" "$(awk -v s="$u2" 'BEGIN{print s*1000}')"
fi

# data-parallel PPO: rollouts of 32 quadrupeds (each rank its share) and the updates, 3 iterations
one=$("$spinal" "$here/mpi_workloads.lua" ppo 2>/dev/null | grep '^ppo')
two=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" ppo 2>/dev/null | grep '^ppo')
if [[ -n $one && -n $two ]]; then
  read -r _ _ s1 u1 <<<"$one"
  read -r _ _ s2 u2 <<<"$two"
  line mpi_ppo_32_quadrupeds_3_iterations "$(awk -v s="$s2" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$s1" 'BEGIN{print s*1000}')" null \
    "$(awk -v s="$u1" 'BEGIN{print s*1000}')" "$(awk -v s="$u2" 'BEGIN{print s*1000}')"
fi

# allreduce of a 1 M-parameter network's gradients at 2 ranks
ar=$(mpirun2 "$spinal" "$here/mpi_workloads.lua" allreduce 2>/dev/null | grep '^allreduce')
if [[ -n $ar ]]; then
  read -r _ n s <<<"$ar"
  printf '{"name":"mpi_allreduce_mean_1M_params","spinal_ms":%s,"reference":null,"reference_ms":null,"ratio":null,"ranks":2,"load_avg":%s,"threads":1}\n' \
    "$(awk -v s="$s" 'BEGIN{printf "%.2f", s*1000}')" "$load"
fi
exit 0
