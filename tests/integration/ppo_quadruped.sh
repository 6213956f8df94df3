#!/usr/bin/env bash
# ppo_quadruped.sh: experiments/ppo_quadruped.lua quick=true as a user runs it: the run directory
# holds the summary, metrics and plot; the summary has the documented keys and counts; and the
# whole run (environments, sampling, updates, evaluation) is the same on one and on two worker
# threads. Then task=imitate on the quick gait library (built in the temporary directory): the
# summary has the tracking errors. A few seconds.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for threads in 1 2; do
  "$BIN" "$SRC/experiments/ppo_quadruped.lua" quick=true seed=3 threads=$threads \
    out="$tmp/t$threads" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: threads=$threads"; exit 1; }
  grep -q "^ppo_quadruped: velocity error" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no result line"; exit 1; }
  for f in settings.json metrics.csv summary.json ppo_velocity_error.dat; do
    [ -s "$tmp/t$threads/$f" ] || { echo "FAIL: t$threads/$f missing"; exit 1; }
  done
  [ "$(wc -l <"$tmp/t$threads/metrics.csv")" -eq 4 ] || { echo "FAIL: 3 iterations in metrics.csv"; exit 1; }
done
A="$tmp/t1/summary.json" B="$tmp/t2/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local a, b = assert(json.read(os.getenv 'A')), assert(json.read(os.getenv 'B'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(a.samples == 192, 'samples = 3 iterations of 8 x 8')
  for _, k in ipairs { 'vel_error_before', 'vel_error_after', 'yaw_error_before', 'yaw_error_after',
                       'falls_before', 'falls_after', 'samples_per_second', 'wall_seconds' } do
    need(type(a[k]) == 'number', k)
  end
  need(a.vel_error_before > 0 and a.vel_error_before < 2, 'a plausible velocity error')
  need(#a.eval_vel_error == 3, 'evaluations at 0, 2 and 3 iterations')
  for _, k in ipairs { 'vel_error_before', 'vel_error_after', 'yaw_error_after', 'falls_after' } do
    need(a[k] == b[k], k .. ' is the same on one and two threads')
  end"
cd "$tmp"
"$BIN" "$SRC/experiments/ppo_quadruped.lua" quick=true task=imitate out="$tmp/im" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: task=imitate"; exit 1; }
S="$tmp/im/summary.json" "$BIN" -e "
  local json = require 'spinal.json'
  local s = assert(json.read(os.getenv 'S'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(s.task == 'imitate' and s.samples == 192, 'task and samples')
  need(s.joint_error_before > 0 and s.joint_error_before < 1, 'a plausible joint error')
  need(s.root_error_before >= 0 and type(s.root_error_after) == 'number', 'trunk errors')
  need(s.vel_error_after == nil, 'no velocity error for imitation')"
# quick mode keeps what the command line sets (nenvs, hidden) and refuses a bad width list
"$BIN" "$SRC/experiments/ppo_quadruped.lua" quick=true nenvs=4 hidden=32 out="$tmp/q4" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; echo "FAIL: quick=true nenvs=4 hidden=32"; exit 1; }
S="$tmp/q4/settings.json" "$BIN" -e "
  local s = assert(require('spinal.json').read(os.getenv 'S'))
  assert(s.nenvs == 4 and tostring(s.hidden) == '32', 'quick mode overrode the command line')" ||
  { echo "FAIL: quick mode overrode nenvs or hidden"; exit 1; }
if "$BIN" "$SRC/experiments/ppo_quadruped.lua" quick=true hidden=a out="$tmp/bad" >"$tmp/out" 2>&1; then
  echo "FAIL: hidden=a accepted"; exit 1
fi
grep -qF "hidden=a: expected a comma-separated list of integers >= 1" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: hidden=a's message"; exit 1; }
echo "ok"
