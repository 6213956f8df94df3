#!/usr/bin/env bash
# finetune_table.sh: experiments/finetune_table.lua quick=true as a user runs it to measure
# README's fine-tuning table again (quick fine-tuning runs on the quick gait library): every robot
# x seed runs, a seed's later robots start from its first run's pre-training, the table and
# summary hold each run's own figures; a table cut short by Ctrl-C keeps its finished runs and,
# run again with the same out=, ends with the same table as one never stopped (and as one run two
# at a time); a changed command line over kept runs and bad arguments are refused before any run.
# About a minute.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]
cd "$SRC"
export OPENBLAS_NUM_THREADS=1

quick_gait_library
table() { "$BIN" experiments/finetune_table.lua quick=true seeds=1,2 args="library=$tmp/lib" "$@"; }

# two at a time, uninterrupted
table jobs=2 out="$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" || fail "the table, two at a time"
grep -q "2 robots x 2 seeds = 4 fine-tuning runs, 2 at a time" "$tmp/a.err" || fail "the plan line"
[[ $(grep -c "^finetune_table: \[[1-4]/4\] seed [12] \(default\|none\): " "$tmp/a.err") == 4 ]] ||
  fail "a progress line per run"
row="^| the default robot (\`friction=0.6 latency=0.01 motor=0.8 payload=3\`) | "
row+="[0-9.]* -> [0-9.]* ([0-9.]*) | [0-9.]* -> [0-9.]* ([0-9.]*) | [0-9.]* m/s |$"
grep -q "$row" "$tmp/a/table.md" || fail "the default robot's row: $(cat "$tmp/a/table.md")"
grep -q "^| none (the unperturbed robot) | " "$tmp/a/table.md" || fail "the control's row"
grep -q "every run with \`library=$tmp/lib\`" "$tmp/a/table.md" || fail "the table names args="
cmp -s "$tmp/a.out" <(cat "$tmp/a/table.md"; echo "table: $tmp/a/table.md") || fail "stdout is the table"
for s in 1 2; do
  grep -q "robot=default" "$tmp/a/runs/default_s$s.cmd" || fail "seed $s: the default robot"
  grep -q "pretrained=" "$tmp/a/runs/default_s$s.cmd" && fail "seed $s's first run was given an h"
  grep -q "robot=neutral pretrained='$tmp/a/runs/default_s$s'" "$tmp/a/runs/none_s$s.cmd" ||
    fail "seed $s's control did not start from its first run: $(cat "$tmp/a/runs/none_s$s.cmd")"
  grep -q "seed=$s " "$tmp/a/runs/none_s$s.cmd" || fail "seed $s's control: its seed"
done
# the summary holds each run's own ratio and the counts
SUMMARY="$tmp/a" "$BIN" -e "
  local json, dir = require 'spinal.json', os.getenv 'SUMMARY'
  local s = assert(json.read(dir .. '/summary.json'))
  local function need(ok, what) if not ok then io.stderr:write('FAIL: ', what, '\n') os.exit(1) end end
  need(s.runs == 4 and s.runs_done == 4 and s.runs_failed == 0 and s.target_ratio == 0.6,
       'the counts')
  local at, xs = 0, {}
  for _, k in ipairs { 'default_s1', 'default_s2', 'none_s1', 'none_s2' } do
    local r = assert(json.read(dir .. '/runs/' .. k .. '/summary.json'))
    need(s['ratio_' .. k] == r.velocity_error_ratio, k .. ': the run\'s own ratio')
    xs[#xs + 1] = r.velocity_error_ratio
    if r.velocity_error_ratio <= 0.6 then at = at + 1 end
  end
  table.sort(xs)
  need(s.runs_at_target == at and s.ratio_min == xs[1] and s.ratio_max == xs[4]
       and s.ratio_median == (xs[2] + xs[3]) / 2, 'at target, min, max, median')
" || fail "the summary: $(cat "$tmp/a/summary.json")"

# one at a time, stopped by Ctrl-C (to the process group, as a terminal sends it) after its first
# run: the finished run is kept, the one cut short is redone
setsid "$BIN" experiments/finetune_table.lua quick=true seeds=1,2 args="library=$tmp/lib" \
  out="$tmp/b" >"$tmp/b.out" 2>"$tmp/b.err" &
pg=$!
wait_for "$tmp/b.err" "\[1/4\]" 120 || fail "the first run did not finish"
kill -INT -- -"$pg"
rc=0
wait "$pg" || rc=$?
[[ $rc == 130 ]] || fail "Ctrl-C: status $rc, not 130"
grep -q "interrupted; run it again with out=$tmp/b" "$tmp/b.err" || fail "how to go on"
[[ -e $tmp/b/summary.json ]] && fail "a summary.json for a table cut short"
pgrep -f "out=$tmp/b/runs" >/dev/null && fail "a run outlived the table"
table out="$tmp/b" >"$tmp/b2.out" 2>"$tmp/b2.err" || fail "the table run again"
kept=$(sed -n 's/.*runs (\([0-9]\) kept from before).*/\1/p' "$tmp/b2.err")
[[ -n $kept && $kept -ge 1 && $kept -lt 4 ]] || fail "the finished runs kept: $(cat "$tmp/b2.err")"
[[ $(grep -c "^finetune_table: \[[1-4]/4\]" "$tmp/b2.err") == $((4 - kept)) ]] ||
  fail "only the runs not kept run again: $(cat "$tmp/b2.err")"
# the rows (each run's figures), not the wall time under them
cmp -s <(grep "^|" "$tmp/a/table.md") <(grep "^|" "$tmp/b/table.md") ||
  fail "interrupted and resumed, one at a time, differs from two at a time:
$(diff "$tmp/a/table.md" "$tmp/b/table.md")"

# refused before any run: another command line over kept runs, a bad args=, a bad table
table out="$tmp/b" args="library=$tmp/lib wm_recent=0.5" >"$tmp/c.out" 2>&1 &&
  fail "a changed command line over kept runs was accepted"
grep -q "holds default_s1 run with another command line" "$tmp/c.out" ||
  fail "the refusal: $(cat "$tmp/c.out")"
table out="$tmp/d" args="seed=3" >"$tmp/c.out" 2>&1 && fail "args=seed=3 accepted"
grep -q "args=: seed is the table's to set" "$tmp/c.out" ||
  fail "args= refusal: $(cat "$tmp/c.out")"
printf 'friction=0.7\nlatency 0.01\n' >"$tmp/rows"
table out="$tmp/d" table="$tmp/rows" >"$tmp/c.out" 2>&1 && fail "a bad table file accepted"
grep -q "$tmp/rows:2: 'latency' is not a perturbation" "$tmp/c.out" ||
  fail "the file's line: $(cat "$tmp/c.out")"
[[ -e $tmp/d/runs ]] && fail "runs started for refused arguments"
# a misspelt setting fails the first runs and stops the table there, naming the run's message
table jobs=2 out="$tmp/e" args="library=$tmp/lib wm_recentt=0.5" >"$tmp/e.out" 2>"$tmp/e.err" &&
  fail "a misspelt setting passed"
grep -q "did you mean 'wm_recent'" "$tmp/e.err" || fail "the run's message: $(cat "$tmp/e.err")"
grep -q "stopped at a failure before any run finished" "$tmp/e.err" || fail "not stopped"
grep -q "^| none (the unperturbed robot) | not run | not run |" "$tmp/e/table.md" ||
  fail "the runs not started: $(cat "$tmp/e/table.md")"
echo "finetune_table: ok"
