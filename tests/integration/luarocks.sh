#!/usr/bin/env bash
# luarocks.sh: `luarocks make` builds spinal-dev-1.rockspec offline from a copy of the checkout into
# a private tree, and a stock lua5.4 using that tree (luarocks path) requires "spinal" and steps a
# model. The rock's C module is self-contained: it does not need libspinal_engine/libspinal_hal.
set -euo pipefail
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
command -v luarocks >/dev/null || { echo "FAIL: luarocks is not installed (tools/install-deps installs it)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# a copy of the sources (tracked and new files, not build directories): luarocks make builds in place
mkdir "$work/src"
if git -C "$SRC" rev-parse >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src")
else
  (cd "$SRC" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$work/src"
fi
# reuse compiled objects between runs when ccache is there (paths relative to the copy)
if command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR=$work/src
fi
(cd "$work/src" && luarocks --lua-version 5.4 --tree "$work/tree" make spinal-dev-1.rockspec) \
  >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; fail "luarocks make failed"; }

core=$(find "$work/tree" -path '*/spinal/core.so' | head -1)
[ -n "$core" ] || fail "the rock installed no spinal/core.so"
if ldd "$core" | grep -E 'libspinal|not found'; then fail "the rock's core.so is not self-contained"; fi
eval "$(luarocks --lua-version 5.4 --tree "$work/tree" path)"
out=$(cd / && lua5.4 -e '
  local sp = require "spinal"
  local m = sp.model.new("pendulum")
  print(sp.model ~= nil, #m.x_names, sp.array.eye(2):sum())')
[ "$out" = "true	2	2.0" ] || fail "stock lua5.4 with the rock printed: $out"
echo "luarocks make: the rock builds offline and require \"spinal\" works from its tree"
