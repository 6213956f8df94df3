#!/usr/bin/env bash
# libraries.sh: the layer rule and the export rule hold on the built libraries, not only in the
# sources. libspinal_engine needs only BLAS/LAPACKE, libm and libc (ldd shows no Lua, libuv or
# MuJoCo); libspinal_hal adds libuv and MuJoCo but no Lua; only libspinal_render (MuJoCo's
# renderer) uses EGL/OpenGL, and it has no Lua either; none exports an sp__ internal or
# anything that is not sp_*; the Lua module exports only its entry point; and an engine source
# that includes a forbidden header fails to compile with the layer rule's message.
set -euo pipefail
BUILD=${SPINAL_BUILD_DIR:?SPINAL_BUILD_DIR is not set}
# engine_lib, hal_lib, render_lib, lua_module, engine_includes, hal_includes (written by CMakeLists.txt)
. "$BUILD/libraries.env"
fail() { echo "FAIL: $*"; exit 1; }

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# the engine's link line: BLAS, LAPACKE, libm, libc and nothing else
for lib in $(needed "$engine_lib"); do
  case "$lib" in
    libm.so.*|libc.so.*|libopenblas.so.*|libblas.so.*|liblapacke.so.*|liblapack.so.*) ;;
    libasan.so.*|libubsan.so.*) ;;  # the sanitizer build (make test-asan)
    *) fail "libspinal_engine links $lib (the engine links only BLAS/LAPACKE and libm)" ;;
  esac
done
if ldd "$engine_lib" | grep -E 'liblua|libuv|libmujoco|libspinal_hal'; then
  fail "libspinal_engine pulls in a library above its layer (ldd above)"
fi
# the hal: on top of the engine, with libuv and MuJoCo, without Lua
# (outputs are captured first: grep -q in a pipeline would end the writer early under pipefail)
hal_needed=$(needed "$hal_lib")
grep -qx 'libspinal_engine.so.0' <<< "$hal_needed" || fail "libspinal_hal does not link libspinal_engine"
if ldd "$hal_lib" | grep -E 'liblua'; then fail "libspinal_hal pulls in Lua (ldd above)"; fi
# OpenGL only in the renderer, which sits on the engine without Lua
for lib in "$engine_lib" "$hal_lib"; do
  if ldd "$lib" | grep -E 'libEGL|libGL|libOpenGL|libspinal_render'; then
    fail "$(basename "$lib") pulls in OpenGL (ldd above): only libspinal_render may"
  fi
done
render_needed=$(needed "$render_lib")
grep -qx 'libspinal_engine.so.0' <<< "$render_needed" || fail "libspinal_render does not link the engine"
grep -q '^libEGL.so' <<< "$render_needed" || fail "libspinal_render does not link libEGL"
if ldd "$render_lib" | grep -E 'liblua'; then fail "libspinal_render pulls in Lua (ldd above)"; fi

# exports: public sp_ names only, no sp__ internal, in both libraries
for lib in "$engine_lib" "$hal_lib" "$render_lib"; do
  syms=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }')
  least=50
  [ "$lib" = "$render_lib" ] && least=5  # a small library: open, pose, focus, frame, ...
  [ "$(grep -c '^sp_' <<< "$syms")" -gt $least ] || fail "$(basename "$lib") exports almost nothing"
  internal=$(echo "$syms" | grep '^sp__' || true)
  [ -z "$internal" ] || fail "$(basename "$lib") exports internals: $(echo $internal)"
  other=$(echo "$syms" | grep -v '^sp_' || true)
  [ -z "$other" ] || fail "$(basename "$lib") exports non-spinal names: $(echo $other)"
done
# every public function named in a public header the binding uses is there (a few spot checks)
engine_syms=$(nm -D --defined-only "$engine_lib")
hal_syms=$(nm -D --defined-only "$hal_lib")
grep -qw sp_model_step <<< "$engine_syms" || fail "sp_model_step is not exported"
grep -qw sp_plant_open <<< "$hal_syms" || fail "sp_plant_open is not exported"
# (the linker's own __bss_start, _edata and _end may appear and are no API)
mod=$(nm -D --defined-only "$lua_module" | awk 'NF == 3 && $3 !~ /^(__bss_start|_edata|_end)$/ { print $3 }')
[ "$mod" = "luaopen_spinal_core" ] || fail "spinal/core.so exports: $(echo $mod)"

# the headers: compile probes with each library's own include path
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
probe() {  # probe LAYER_INCLUDES HEADER -> compiler output; status of the compile
  local incs=$1 header=$2 flags=()
  IFS=: read -ra dirs <<< "$incs"
  for d in "${dirs[@]}"; do flags+=("-I$d"); done
  printf '#include %s\nint x;\n' "$header" > "$work/probe.c"
  cc -fsyntax-only "${flags[@]}" "$work/probe.c" 2>&1
}
probe "$engine_includes" '"engine/core/array.h"' >/dev/null || fail "the engine probe cannot include its own headers"
for h in '<uv.h>' '<mujoco/mujoco.h>' '<lua.h>' '<lauxlib.h>' '"hal/hal.h"' '"lua/bind/bind.h"' \
         '<EGL/egl.h>'; do
  name=$(echo "$h" | tr -d '<>"')
  if out=$(probe "$engine_includes" "$h"); then fail "engine/ may include $h"; fi
  echo "$out" | grep -qF "layer rule: engine/ may not include $name (the engine links only BLAS/LAPACKE and libm" \
    || fail "including $h in engine/ failed without the layer rule's message: $out"
done
probe "$hal_includes" '<uv.h>' >/dev/null || fail "hal/ cannot include uv.h"
for h in '<lua.h>' '"lua/bind/bind.h"' '<EGL/egl.h>' '"render/render.h"'; do
  name=$(echo "$h" | tr -d '<>"')
  if out=$(probe "$hal_includes" "$h"); then fail "hal/ may include $h"; fi
  echo "$out" | grep -qF "layer rule: hal/ may not include $name" \
    || fail "including $h in hal/ failed without the layer rule's message: $out"
done
echo "libraries: engine links BLAS/LAPACKE/libm only, hal no Lua, OpenGL in render only, exports sp_ only, headers poisoned"
