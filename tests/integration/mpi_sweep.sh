#!/usr/bin/env bash
# mpi_sweep.sh: the sweeps split across ranks give the single-process files bit for bit
# (mismatch_sweep and estimators at small sizes), a sweep resumes skipping the runs already
# written, and a script that never uses spinal.mpi runs on every rank without colliding.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
source "$SRC/tests/mpi/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# same DIR1 DIR2: metrics.csv, the checkpoints and every summary.json key but the timings and
# the rank bookkeeping are identical
same() {
  cmp "$1/metrics.csv" "$2/metrics.csv" || { echo "FAIL: $1 and $2: metrics.csv differ"; exit 1; }
  for f in "$1"/*.ckpt; do
    cmp "$f" "$2/$(basename "$f")" || { echo "FAIL: $(basename "$f") differs"; exit 1; }
  done
  A=$1/summary.json B=$2/summary.json "$BIN" -e '
    local json = require "spinal.json"
    local a, b = json.read(os.getenv "A"), json.read(os.getenv "B")
    local skip = { wall_seconds = true, cpu_seconds = true, ranks = true, runs_by_rank = true }
    for k, v in pairs(a) do
      if not skip[k] and json.encode(v) ~= json.encode(b[k]) then
        io.stderr:write("FAIL: summary key ", k, " differs\n") os.exit(1)
      end
    end' || exit 1
}

sweep=(gammas=1,0.5 seeds=2 iters=2 seconds=7)
"$BIN" "$SRC/experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s1" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
mpirun2 "$BIN" "$SRC/experiments/mismatch_sweep.lua" "${sweep[@]}" out="$tmp/s2" \
  >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
[ "$(ls "$tmp"/s1/*.ckpt | wc -l)" -eq 4 ] || { echo "FAIL: 4 checkpoints expected"; exit 1; }
same "$tmp/s1" "$tmp/s2"
grep -q '"runs_by_rank": \[0,1,0,1\]' "$tmp/s2/summary.json" \
  || { echo "FAIL: runs_by_rank"; exit 1; }
grep -q '"ranks": \[0,1\]' "$tmp/s2/settings.json" || { echo "FAIL: settings.json ranks"; exit 1; }
[ ! -e "$tmp/s2-rank1" ] || { echo "FAIL: a shared run made a second directory"; exit 1; }

# resume: a sweep that lost one run (and its metrics) redoes only that run, to the same files
rm "$tmp/s2/runs/gamma0.5_seed2.result" "$tmp/s2/metrics.csv" "$tmp/s2/summary.json"
touch -d '2000-01-01' "$tmp"/s2/runs/*.result
mpirun2 "$BIN" "$SRC/experiments/mismatch_sweep.lua" resume="$tmp/s2" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
same "$tmp/s1" "$tmp/s2"
[ "$(find "$tmp/s2/runs" -name "*.result" -newer "$tmp/s1/settings.json" | wc -l)" -eq 1 ] \
  || { echo "FAIL: resume redid runs it had"; exit 1; }

est=(estimators=feedback,model_bptt,reinforce,es seeds=1 seconds=7 budget=28 pairs=1 rollouts=2)
"$BIN" "$SRC/experiments/estimators.lua" "${est[@]}" out="$tmp/e1" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
mpirun2 "$BIN" "$SRC/experiments/estimators.lua" "${est[@]}" out="$tmp/e2" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
same "$tmp/e1" "$tmp/e2"

# a script that never uses spinal.mpi: every rank runs it, each in its own run directory
cat >"$tmp/plain.lua" <<'LUA'
local sp = require "spinal"
local run = sp.run.start { name = "plain", settings = { out = os.getenv "OUT" } }
run:summary { x = 1 }
LUA
OUT="$tmp/plain" mpirun2 -x OUT "$BIN" "$tmp/plain.lua" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
for d in plain plain-rank1; do
  [ -s "$tmp/$d/summary.json" ] || { echo "FAIL: $d/summary.json missing"; exit 1; }
done
grep -q '"ranks": \[1\]' "$tmp/plain-rank1/settings.json" \
  || { echo "FAIL: rank 1's record"; exit 1; }
grep -q '"shared": false' "$tmp/plain/settings.json" || { echo "FAIL: rank 0's record"; exit 1; }
# a script that uses spinal.mpi and starts its run on rank 0 only: no collective, no suffix
cat >"$tmp/root_only.lua" <<'LUA'
local sp = require "spinal"
local n = sp.mpi.allreduce(1)
if sp.mpi.rank() == 0 then
  local run = sp.run.start { name = "root_only", settings = { out = os.getenv "OUT" } }
  run:summary { ranks = n }
end
LUA
OUT="$tmp/root_only" mpirun2 -x OUT "$BIN" "$tmp/root_only.lua" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
grep -q '"ranks": 2' "$tmp/root_only/summary.json" || { echo "FAIL: rank 0's run"; exit 1; }
[ ! -e "$tmp/root_only-rank1" ] || { echo "FAIL: rank 1 made a run"; exit 1; }

# in a shared run only rank 0 writes the run's own files
cat >"$tmp/shared.lua" <<'LUA'
local sp = require "spinal"
local run = sp.run.start { name = "shared", settings = { out = os.getenv "OUT" }, shared = true }
if sp.mpi.rank() == 1 then
  local ok, err = pcall(run.log, run, { iter = 1 })
  assert(not ok and err:find("run:log on rank 1: in a run shared by the ranks of an MPI job only "
    .. "rank 0 writes metrics.csv", 1, true), tostring(err))
  run:save_policy("rank1.ckpt", sp.policy.open_loop { nx = 2, nu = 1, u_ff = { 0 }, period = 1 })
end
sp.mpi.barrier()
LUA
OUT="$tmp/shared" mpirun2 -x OUT "$BIN" "$tmp/shared.lua" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log"; exit 1; }
[ -s "$tmp/shared/rank1.ckpt" ] && [ ! -e "$tmp/shared/metrics.csv" ] \
  && [ ! -e "$tmp/shared-rank1" ] || { cat "$tmp/log"; echo "FAIL: shared run files"; exit 1; }
echo "mpi_sweep: ok"
