# procs.sh: sourced by the integration tests that run background processes (bridges, hosts) or
# train on the quick gait library: a scratch directory, the processes to stop on exit, failure with
# every log shown, waiting for a log line, starting a bridge and building the quick gait library.
# Sourcing it starts nothing: it sets tmp and pids and traps EXIT to stop pids and remove tmp; the
# script adds the PID of each process it starts to pids.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# fail MESSAGE: print it and every $tmp/*.out and *.err, then exit 1
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.out "$tmp"/*.err; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done
  exit 1
}
# wait_for FILE PATTERN [SECONDS]: until a line of FILE matches PATTERN (default 5 s); 1 if never
wait_for() {
  local tries=$(((${3:-5}) * 20))
  for _ in $(seq "$tries"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
# start_bridge ROBOT_FILE SECONDS [BRIDGE ARGS...]: a `spinal bridge` on a free local port, logs in
# $tmp/bridge.out and .err, its PID in pids; sets port once it serves (fails the test otherwise)
start_bridge() {
  local robot=$1 secs=$2
  shift 2
  "$BIN" bridge "$robot" --listen 127.0.0.1:0 "$@" >"$tmp/bridge.out" 2>"$tmp/bridge.err" &
  pids+=($!)
  wait_for "$tmp/bridge.out" "serving" "$secs" || fail "the bridge did not start"
  port=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/bridge.out")
  [[ -n $port ]] || fail "no port in: $(cat "$tmp/bridge.out")"
}
# quick_gait_library: the gait library's 10-clip quick version in $tmp/lib (fails the test otherwise)
quick_gait_library() {
  "$BIN" -e "assert(require('spinal.gaitlib').build { out = '$tmp/lib', quick = true })" \
    >"$tmp/lib.out" 2>&1 || fail "quick gait library"
}
