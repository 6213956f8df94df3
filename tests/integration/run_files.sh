#!/usr/bin/env bash
# run_files.sh: what a run leaves behind, as a user sees it from the command line. A run on a
# full disk (a 64 KiB tmpfs) ends with a non-zero status naming the file and the reason, and what
# it wrote stays whole; lr=1e308 is refused; a robot file for another experiment is refused
# naming what is missing; resume= refuses a changed setting and a finished run; a learning run
# goes through a UDP robot (`spinal bridge` on loopback), which cannot reset to x0; an arm run
# (optim=gn) stopped by Ctrl-C and resumed ends bitwise as the uninterrupted run, and so does a
# sweep (pendulum_feedback) that redoes only the run it was cut in. About 30 s.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
mnt=""
bridge=""
cleanup() {
  [[ -n $bridge ]] && kill "$bridge" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n $mnt ]] && umount "$mnt" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.out "$tmp"/*.err; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done
  exit 1
}
car() { "$BIN" "$SRC/experiments/car_figure8.lua" "$@"; }

# every JSON file under DIR decodes, and no temporary file is left
whole() {
  DIR=$1 "$BIN" -e '
    local json = require "spinal.json"
    for name in io.popen("ls -A \"" .. os.getenv "DIR" .. "\""):lines() do
      if name:find "%.tmp" then io.stderr:write("temporary file left: ", name, "\n") os.exit(1) end
      if name:match "%.json$" then
        local v, err = json.read(os.getenv "DIR" .. "/" .. name)
        if not v then io.stderr:write(name, ": ", tostring(err), "\n") os.exit(1) end
      end
    end' || fail "files in $1 are not whole"
}

# ---- a full disk ------------------------------------------------------------------------------
mkdir -p "$tmp/small"
if mount -t tmpfs -o size=64k tmpfs "$tmp/small" 2>"$tmp/mount.err"; then
  mnt="$tmp/small"
  # a large network's checkpoint does not fit; a small one's does, and a later file fails
  for hidden in 64,64 4; do
    rm -rf "${mnt:?}"/*
    if car iters=2 seconds=3 hidden=$hidden out="$mnt/run" >"$tmp/full.out" 2>"$tmp/full.err"; then
      fail "a run on a full disk exited 0 (hidden=$hidden)"
    fi
    grep -q "^spinal: run: cannot write $mnt/run/[a-z_]*\.[a-z]* (.*No space left on device)" \
      "$tmp/full.err" || fail "the error does not name the file and the reason (hidden=$hidden)"
    whole "$mnt/run"
    [[ -s $mnt/run/settings.json ]] || fail "settings.json lost"
    echo "ok full disk (hidden=$hidden): $(grep -o 'cannot write [^ ]*' "$tmp/full.err")"
  done
else
  echo "SKIP full disk: cannot mount a tmpfs ($(cat "$tmp/mount.err"))"
fi

# ---- honest failures --------------------------------------------------------------------------
if car iters=2 seconds=6 lr=1e308 out="$tmp/huge" >/dev/null 2>"$tmp/huge.err"; then
  fail "lr=1e308 exited 0"
fi
# the override's range refuses it first (spinal.settings); a script that passes such an lr to the
# optimiser itself gets the refused step (tests/lua/figure8_spec.lua)
grep -q "bad override 'lr=1e308'" "$tmp/huge.err" || fail "lr=1e308: $(cat "$tmp/huge.err")"
[[ ! -e $tmp/huge/summary.json ]] || fail "lr=1e308 wrote a summary"
echo "ok lr=1e308 refused"

if car robot=robots/double_pendulum.lua out="$tmp/pend" >/dev/null 2>"$tmp/pend.err"; then
  fail "a double pendulum ran as a car"
fi
grep -q "is not a robot for car_figure8: its state must start with px, py, v, phi (missing: px" \
  "$tmp/pend.err" || fail "robot check: $(cat "$tmp/pend.err")"
echo "ok robot check"

# ---- resume= ------------------------------------------------------------------------------------
# optim=adam: a gn run keeps no trust-region state in its checkpoint, so it cannot resume
car iters=1 seconds=6 hidden=16,16 optim=adam out="$tmp/done" >/dev/null 2>&1 ||
  fail "a short run failed"
[[ -s $tmp/done/policy.ckpt ]] || fail "no policy.ckpt"
if car resume="$tmp/done" lr=0.01 >/dev/null 2>"$tmp/resume.err"; then fail "resume lr=0.01"; fi
grep -q "cannot resume $tmp/done with lr=0.01: the run was started with lr=0.003" \
  "$tmp/resume.err" || fail "resume: $(cat "$tmp/resume.err")"
if car resume="$tmp/done" >/dev/null 2>"$tmp/resume.err"; then fail "resumed a finished run"; fi
grep -q "is complete (1 iterations): nothing to resume" "$tmp/resume.err" ||
  fail "resume: $(cat "$tmp/resume.err")"
echo "ok resume refusals"

# ---- a learning run through a UDP robot ---------------------------------------------------------
"$BIN" bridge "$SRC/robots/rc_car.lua" --listen 127.0.0.1:0 >"$tmp/bridge.out" 2>"$tmp/bridge.err" &
bridge=$!
for _ in $(seq 100); do grep -q "on 127.0.0.1:" "$tmp/bridge.out" && break; sleep 0.05; done
port=$(grep -o "127\.0\.0\.1:[0-9]*" "$tmp/bridge.out" | head -1 | cut -d: -f2)
[[ -n $port ]] || fail "the bridge did not start"
msg=$(cd "$SRC" && "$BIN" -e "
  local robot = require('spinal.robot').load 'robots/rc_car.lua'
  local plant = assert(robot:open 'udp://127.0.0.1:$port')
  local ok, err = pcall(function()
    return plant:rollout(robot.controller, { steps = 2, x0 = { 0, 0, 0, 0 },
                                             r = { 0, 0, 0, 0, 0, 0 } })
  end)
  print(err)" 2>&1)
grep -qF "bad argument #2 to 'rollout' (field 'x0': udp plants cannot reset to x0: start the \
robot at (0.0, 0.0, 0.0, 0.0) or leave x0 out)" <<<"$msg" || fail "udp x0: $msg"
echo "ok udp cannot reset: $msg"
car iters=2 seconds=6 hidden=16,16 plant=udp://127.0.0.1:$port out="$tmp/udp" \
  >"$tmp/udp.out" 2>"$tmp/udp.err" || fail "the udp run failed"
check() {
  SUMMARY=$1 "$BIN" -e "
    local s = assert(require('spinal.json').read(os.getenv 'SUMMARY'))
    if not ($2) then os.exit(1) end" || fail "$1: $2"
}
check "$tmp/udp/summary.json" "s.plant == 'udp://127.0.0.1:$port' and #s.costs == 3"
check "$tmp/udp/summary.json" "s.learned_valid and s.learned_faults == 0"
grep -q "learned policy" "$tmp/udp.out" || fail "no table"
# the progress line counts the updates the summary calls iterations (2, not 3 rollouts)
grep -q "car_figure8  2/2  100%" "$tmp/udp.err" || fail "progress: $(cat "$tmp/udp.err")"
echo "ok learning through udp://127.0.0.1:$port"

# ---- Ctrl-C, then resume=: bitwise the uninterrupted run (the arm: MuJoCo, ~0.2 s an iteration) --
# optim=gn: the checkpoint carries the Gauss-Newton trust region (adam: tests/lua/figure8_spec.lua)
arm() { "$BIN" "$SRC/experiments/arm_reach.lua" iters=12 hidden=16,16 optim=gn "$@"; }
arm out="$tmp/arm_whole" >/dev/null 2>&1 || fail "arm_reach failed"
# job control on: a background job of a script otherwise starts with SIGINT ignored
set -m
arm out="$tmp/arm_cut" >/dev/null 2>"$tmp/arm_cut.err" &
pid=$!
set +m
# Ctrl-C once the first checkpoint is there
for _ in $(seq 400); do [[ -s $tmp/arm_cut/policy.ckpt ]] && break; sleep 0.01; done
kill -INT -- "-$pid"  # its process group: the job is a subshell running spinal
status=0
wait "$pid" || status=$?
[[ $status -eq 130 ]] || fail "Ctrl-C: exit status $status, expected 130"
[[ ! -e $tmp/arm_cut/summary.json ]] || fail "the interrupted run finished anyway"
whole "$tmp/arm_cut"
arm resume="$tmp/arm_cut" >/dev/null 2>"$tmp/arm_resume.err" || fail "resume failed"
for f in learned_X.npy learned_U.npy metrics.csv policy.ckpt; do
  cmp -s "$tmp/arm_whole/$f" "$tmp/arm_cut/$f" || fail "resumed $f differs from the whole run's"
done
A=$tmp/arm_whole/summary.json B=$tmp/arm_cut/summary.json "$BIN" -e '
  local json = require "spinal.json"
  local a, b = json.read(os.getenv "A"), json.read(os.getenv "B")
  if json.encode(a) ~= json.encode(b) then os.exit(1) end' || fail "resumed summary differs"
echo "ok Ctrl-C, then resume=: bitwise the uninterrupted run"

# ---- a sweep: Ctrl-C, then resume= redoes only the unit cut short --------------------------------
pend() {
  "$BIN" "$SRC/experiments/pendulum_feedback.lua" seeds=3 iters=4 hidden=8,8 optim=gn "$@"
}
pend out="$tmp/pend_whole" >/dev/null 2>&1 || fail "pendulum_feedback failed"
set -m
pend out="$tmp/pend_cut" >/dev/null 2>"$tmp/pend_cut.err" &
pid=$!
set +m
for _ in $(seq 400); do compgen -G "$tmp/pend_cut/runs/*.result" >/dev/null && break; sleep 0.01; done
kill -INT -- "-$pid"
status=0
wait "$pid" || status=$?
[[ $status -eq 130 ]] || fail "sweep Ctrl-C: exit status $status, expected 130"
[[ ! -e $tmp/pend_cut/summary.json ]] || fail "the interrupted sweep finished anyway"
pend resume="$tmp/pend_cut" >/dev/null 2>"$tmp/pend_resume.err" || fail "sweep resume failed"
cmp -s "$tmp/pend_whole/metrics.csv" "$tmp/pend_cut/metrics.csv" || fail "resumed metrics differ"
A=$tmp/pend_whole/summary.json B=$tmp/pend_cut/summary.json "$BIN" -e '
  local json = require "spinal.json"
  local a, b = json.read(os.getenv "A"), json.read(os.getenv "B")
  if json.encode(a) ~= json.encode(b) then os.exit(1) end' || fail "resumed sweep summary differs"
if pend resume="$tmp/pend_cut" >/dev/null 2>"$tmp/pend_again.err"; then fail "resumed a finished sweep"; fi
grep -qF "run: $tmp/pend_cut is complete: nothing to resume" "$tmp/pend_again.err" ||
  fail "finished sweep: $(cat "$tmp/pend_again.err")"
echo "ok a sweep: Ctrl-C, then resume=: the same metrics and summary"
