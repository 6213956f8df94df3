#!/usr/bin/env bash
# install.sh: `cmake --install` into a temporary prefix gives a relocatable tree a user can build
# against: the binary runs from anywhere with its Lua library; a stock lua5.4 requires "spinal"
# from the tree's standard Lua directories; only public headers are installed; and a C program
# compiles, links and steps a model both through pkg-config and through find_package(spinal).
set -euo pipefail
BUILD=${SPINAL_BUILD_DIR:?SPINAL_BUILD_DIR is not set}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$BUILD" --prefix "$work/prefix" >/dev/null
# move the tree: nothing may point back at the build or the install location
mv "$work/prefix" "$work/moved"
prefix=$work/moved
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

# the binary and its Lua library
out=$("$prefix/bin/spinal" -e 'print(spinal.host.lua_dir, require("spinal.array").eye(2):sum())')
case "$out" in
  "$prefix/bin/../share/lua/5.4"*2*) ;;
  *) fail "installed spinal printed: $out" ;;
esac

# a sanitizer build installs sanitized libraries: C users must be built the same way, and a stock
# lua5.4 (not built with ASan) cannot load them, so that check is left to the ordinary build
libdir=$(dirname "$(find "$prefix" -name 'libspinal_engine.so' | head -1)")
san=
if ldd "$libdir/libspinal_engine.so" | grep -q libasan; then san=-fsanitize=address,undefined; fi

# a stock lua5.4: the tree's share/lua/5.4 and lib/lua/5.4 stand where lua5.4 looks under
# /usr/local, so its own default paths, moved to this prefix, must find both halves of the module
moved_paths=$(P=$prefix lua5.4 -e '
  local function move(s) return (s:gsub("/usr/local/", function() return os.getenv("P") .. "/" end)) end
  io.write(move(package.path), "\n", move(package.cpath), "\n")')
lua_path=$(echo "$moved_paths" | sed -n 1p)
lua_cpath=$(echo "$moved_paths" | sed -n 2p)
[ -n "$san" ] || out=$(cd / && LUA_PATH=$lua_path LUA_CPATH=$lua_cpath lua5.4 -e '
  local sp = require "spinal"
  print(sp.model)
  local m = sp.model.new("pendulum")
  print(#m.x_names, sp.array.eye(3):sum())')
if [ -z "$san" ]; then
  echo "$out" | sed -n 1p | grep -q '^table: ' || fail "stock lua5.4: sp.model is $(echo "$out" | sed -n 1p)"
  [ "$(echo "$out" | sed -n 2p)" = "2	3.0" ] || fail "stock lua5.4: a pendulum and eye(3) gave: $out"
fi
[ -f "$prefix/lib/lua/5.4/spinal/core.so" ] || fail "no lib/lua/5.4/spinal/core.so"

# only public headers: no internal.h, *_impl.h or the other private headers
inc=$prefix/include/spinal
[ -f "$inc/engine/model/model.h" ] && [ -f "$inc/engine/core/export.h" ] && [ -f "$inc/hal/hal.h" ] \
  || fail "public headers missing under $inc"
private=$(cd "$inc" && find . -name internal.h -o -name '*_impl.h' -o -name mass2.h -o -name delay.h)
[ -z "$private" ] || fail "private headers installed: $(echo $private)"

cat > use.c <<'C'
#include <stdio.h>
#include "engine/model/model.h"
int main(void) {
  sp_model* m;
  sp_model_data* d;
  if (sp_model_new(&m, "pendulum", NULL, 0.01) || sp_model_data_new(&d, m)) return 1;
  double x[2] = {0.1, 0}, u[1] = {0}, y[2];
  sp_model_step(m, d, y, x, u);
  printf("%.6f\n", y[0]);
  sp_model_data_free(d);
  sp_model_free(m);
  return 0;
}
C
check_step() {  # check_step PROGRAM HOW
  local y
  y=$("$1") || fail "$2: the program failed"
  awk -v y="$y" 'BEGIN { exit !(y > 0.1 && y < 0.101) }' || fail "$2: pendulum step gave $y"
}

# pkg-config: spinal-engine alone, and spinal (engine + hal)
pc=$libdir/pkgconfig
for pkg in spinal-engine spinal; do
  # the .pc files' paths hang off ${prefix}, so --define-prefix follows the moved tree
  flags=$(PKG_CONFIG_PATH=$pc pkg-config --define-prefix --cflags --libs $pkg)
  cc $san use.c -o "use-$pkg" $flags -Wl,-rpath,"$libdir"
  check_step "./use-$pkg" "pkg-config $pkg"
done
ldd ./use-spinal-engine | grep -qE 'libspinal_hal|libuv|libmujoco|liblua' \
  && fail "a program on spinal-engine pulls in more than the engine: $(ldd ./use-spinal-engine)"

# CMake: find_package(spinal) from the moved tree, one program per exported target
mkdir cm
cp use.c cm/
cat > cm/hal.c <<'C'
#include <stdio.h>
#include "hal/hal.h"
int main(void) {
  printf("%s\n", sp_plant_find_backend("model") ? "ok" : "no model backend");
  return 0;
}
C
cat > cm/CMakeLists.txt <<'C'
cmake_minimum_required(VERSION 3.20)
project(use_spinal C)
find_package(spinal 0.1 REQUIRED)
add_executable(use use.c)
target_link_libraries(use PRIVATE spinal::engine)
add_executable(use_hal hal.c)
target_link_libraries(use_hal PRIVATE spinal::hal)
C
cmake_flags=()
[ -n "$san" ] && cmake_flags+=("-DCMAKE_C_FLAGS=$san" "-DCMAKE_EXE_LINKER_FLAGS=$san")
cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" "${cmake_flags[@]}" >cm/configure.log 2>&1 \
  || { cat cm/configure.log; fail "find_package(spinal) did not configure"; }
cmake --build cm/build >cm/build.log 2>&1 || { cat cm/build.log; fail "the CMake consumer did not build"; }
check_step cm/build/use "find_package(spinal) spinal::engine"
[ "$(cm/build/use_hal)" = ok ] || fail "find_package(spinal) spinal::hal program failed"
grep -q "$prefix" cm/build/CMakeCache.txt || fail "find_package(spinal) found a tree other than $prefix"
echo "installed tree: binary, stock lua5.4 require, public headers, pkg-config and find_package all usable after a move"
