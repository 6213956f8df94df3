-- helper.lua: loaded by busted before every spec (see CMakeLists.txt).
package.path = (os.getenv("SPINAL_SOURCE_DIR") or ".") .. "/tests/lua/?.lua;" .. package.path
