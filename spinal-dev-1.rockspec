-- spinal-dev-1.rockspec: the spinal Lua module (require "spinal") for a stock Lua 5.4, built from
-- this checkout with `luarocks --lua-version 5.4 make`. It installs the Lua library and one C
-- module, spinal/core.so, with the engine and the hal linked into it (CMake option SPINAL_ROCK);
-- the spinal binary, the shared libraries and the headers come from `make install` instead.
-- The Debian packages tools/install-deps lists (BLAS/LAPACKE, libuv, MuJoCo) must be present.
rockspec_format = "3.0"
package = "spinal"
version = "dev-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Differentiable models, feedback controllers and learning for real robots",
  detailed = [[
    A C11 engine (models, LQR/tracking controllers, gradients through closed loops, MLPs) and a
    hardware layer (simulated, MuJoCo and UDP plants, real-time loops) with a Lua 5.4 front end.
  ]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LAPACKE = { header = "lapacke.h" },
  LIBUV = { header = "uv.h" },
  MUJOCO = { header = "mujoco/mujoco.h" },
}
build = {
  type = "cmake",
  variables = {
    SPINAL_ROCK = "ON",
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    SPINAL_INSTALL_LUADIR = "$(LUADIR)",
    SPINAL_INSTALL_CMODDIR = "$(LIBDIR)",
  },
}
