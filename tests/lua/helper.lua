-- helper.lua: loaded by busted before every spec (see CMakeLists.txt).
package.path = (os.getenv("SPINAL_SOURCE_DIR") or ".") .. "/tests/lua/?.lua;" .. package.path

-- Every name a spec takes from os.tmpname is removed when busted exits, with what the spec made
-- of it: the file, a directory made at that name, or files named by adding a suffix (".lua",
-- ".json"); a spec that cleans up after itself loses nothing by it, one that fails part way
-- leaves nothing in /tmp either.
local tmpname, taken = os.tmpname, {}
os.tmpname = function()
  local path = tmpname()
  taken[#taken + 1] = path
  return path
end
require("busted").subscribe({ "exit" }, function()
  -- only names of the form os.tmpname gives (no quoting needed, nothing else matched); one rm
  local words = {}
  for _, path in ipairs(taken) do
    if path:match("^/tmp/lua_[%w]+$") then words[#words + 1] = path .. " " .. path .. ".*" end
  end
  if #words > 0 then os.execute("rm -rf " .. table.concat(words, " ")) end
  taken = {}
  return nil, true
end)
