#!/usr/bin/env bash
# gait_library.sh: experiments/make_gait_library.lua as a user runs it: the quick library into
# out=DIR (one progress line per clip, the counts, the index and clip files, which
# spinal.gaitlib loads), seconds= and seed= recorded in the index, and a bad override refused.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

. "$SRC/tests/integration/lib/summary.sh"  # check FILE LUA-EXPR...
make() { "$BIN" "$SRC/experiments/make_gait_library.lua" "$@"; }

make quick=true out="$tmp/lib" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "quick library"; }
[ "$(grep -c '^gaitlib: \[[0-9]*/10\] ' "$tmp/out")" -eq 10 ] \
  || { cat "$tmp/out"; fail "progress lines"; }
grep -qF "gait library: 6 training clips, 4 held out, 0 skipped (the robot fell), gaits trot, pace;" \
  "$tmp/out" || { cat "$tmp/out"; fail "no counts line"; }
grep -qF "library: $tmp/lib" "$tmp/out" || fail "no library line"
[ "$(ls "$tmp/lib/clips" | wc -l)" -eq 10 ] || fail "clip files: $(ls "$tmp/lib/clips")"
check "$tmp/lib/index.json" \
  "s.format == 'spinal-gait-library' and s.quick == true and s.seed == 1" \
  "s.rate == 50 and s.seconds == 2 and #s.clips == 10 and #s.rejected == 0" \
  "s.counts.train == 6 and s.counts.test == 4"
LIB="$tmp/lib" "$BIN" -e '
  local lib = assert(require("spinal.gaitlib").load(os.getenv "LIB"))
  assert(#lib.train == 6 and #lib.test == 4, "counts")
  assert(lib.train[1].nframes == 101 and lib.train[1].nj == 12, "clip size")' \
  || fail "gaitlib.load of the script's library"

make quick=true seconds=1 seed=3 out="$tmp/short" >/dev/null 2>&1 || fail "seconds=1 seed=3"
check "$tmp/short/index.json" "s.seconds == 1 and s.seed == 3 and s.clips[1].frames == 51"

if make quick=true out="$tmp/bad" seed=x >/dev/null 2>"$tmp/err"; then fail "seed=x accepted"; fi
grep -qF "bad override 'seed=x'" "$tmp/err" || { cat "$tmp/err"; fail "seed refusal message"; }
echo "gait_library: ok"
