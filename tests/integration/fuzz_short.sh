#!/usr/bin/env bash
# fuzz_short.sh: a short libFuzzer run of every target in tests/fuzz/ (10 s each), as part of the
# suite. Each target names its sources (globs allowed) in a "// sources:" line and may add compiler
# and linker flags in a "// flags:" line (${BUILD} is the build directory). Longer runs are
# documented in docs/protocol.md; crashes leave their input in the build directory's fuzz/ folder.
# Inputs under tests/fuzz/corpus/<target>/ (past findings) are replayed first.
set -euo pipefail
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
SECONDS_EACH=${SPINAL_FUZZ_SECONDS:-10}
CLANG=$(command -v clang || command -v clang-14 || true)
[ -n "$CLANG" ] || { echo "FAIL: clang is not installed (tools/install-deps installs it)"; exit 1; }
BUILD=$(cd "${SPINAL_BUILD_DIR:-.}" && pwd)
out=$BUILD/fuzz
mkdir -p "$out"
for target in "$SRC"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  sources=$(sed -n 's|^// sources: ||p' "$target")
  [ -n "$sources" ] || { echo "FAIL: $target has no '// sources:' line"; exit 1; }
  flags=$(sed -n 's|^// flags: ||p' "$target")
  flags=$(BUILD=$BUILD eval "echo $flags")
  (cd "$SRC" && "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -I. "$target" $sources \
     $flags -o "$out/$name")
  # past findings first: every input under tests/fuzz/corpus/<target>/ must run clean
  corpus=$SRC/tests/fuzz/corpus/$name
  if [ -d "$corpus" ]; then
    echo "== $name: replaying $(ls "$corpus" | wc -l) past finding(s)"
    (cd "$out" && ./"$name" "$corpus"/* 2>&1 | tail -2)
  fi
  echo "== $name: ${SECONDS_EACH}s"
  (cd "$out" && ./"$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 2>&1 | tail -4)
done
