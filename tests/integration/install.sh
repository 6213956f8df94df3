#!/usr/bin/env bash
# install.sh: `cmake --install` into a temporary prefix gives a relocatable tree a user can build
# against: the binary runs from anywhere with its Lua library, and a C program compiles and links
# through the installed pkg-config file and steps a model.
set -euo pipefail
BUILD=${SPINAL_BUILD_DIR:?SPINAL_BUILD_DIR is not set}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$BUILD" --prefix "$work/prefix" >/dev/null
# move the tree: nothing may point back at the build or the install location
mv "$work/prefix" "$work/moved"
prefix=$work/moved
cd "$work"
out=$("$prefix/bin/spinal" -e 'print(spinal.host.lua_dir, require("spinal.array").eye(2):sum())')
case "$out" in
  "$prefix/bin/../share/spinal/lua"*2*) ;;
  *) echo "FAIL: installed spinal printed: $out"; exit 1 ;;
esac
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
pc=$prefix/lib/pkgconfig
[ -d "$pc" ] || pc=$(dirname "$(find "$prefix" -name spinal.pc | head -1)")
# the .pc file's paths hang off ${prefix}, so --define-prefix follows the moved tree
flags=$(PKG_CONFIG_PATH=$pc pkg-config --define-prefix --cflags --libs spinal)
# a sanitizer build installs a sanitized library: its users must be built the same way
san=
if ldd "$(dirname "$pc")/libspinal.so" | grep -q libasan; then san=-fsanitize=address,undefined; fi
cc $san use.c -o use $flags -Wl,-rpath,"$(dirname "$pc")"
y=$(./use)
awk -v y="$y" 'BEGIN { exit !(y > 0.1 && y < 0.101) }' || { echo "FAIL: pendulum step gave $y"; exit 1; }
echo "installed tree: binary, Lua library, headers and pkg-config all usable after a move"
