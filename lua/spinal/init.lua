-- init.lua: the spinal Lua library (require "spinal"); submodules load on first use.
--
-- spinal.<name> requires "spinal.<name>" the first time it is read and caches it, so a new
-- module (a lua/spinal/<name>.lua file or a lua/bind/<name>.c binding) appears without editing
-- this file. Reading a name that is no module gives nil. docs/cli.md describes args/settings.
-- under a stock lua5.4 (not the spinal binary, which preloads them) the C modules come from one
-- library on package.cpath, spinal/core.so, which registers each in package.preload
if package.preload["spinal.array"] == nil and package.searchpath("spinal.core", package.cpath) then
  require "spinal.core"
end

local settings = require "spinal.settings"

local has_host, host = pcall(require, "spinal.host")
if not has_host then host = nil end

local spinal = {
  version = "0.1.0",
  settings = settings,
  -- key=value command-line overrides, parsed (numbers, booleans, a.b=1 nests)
  args = settings.parse(host and host.overrides() or {}),
}

-- true once Ctrl-C was pressed: long loops poll this and stop at a clean point
function spinal.interrupted()
  return host ~= nil and host.interrupted()
end

-- the submodule names available to spinal.<name>, sorted
function spinal.modules()
  local names, seen = {}, {}
  local function add(name)
    if name ~= "init" and not seen[name] and name:match "^[%a_][%w_]*$" then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  for key in pairs(package.preload) do
    local name = type(key) == "string" and key:match "^spinal%.([%w_]+)$"
    if name then add(name) end
  end
  for dir in package.path:gmatch "[^;]+" do
    local base = dir:match "^(.*)/%?%.lua$"
    local files = base and host and host.listdir(base .. "/spinal")
    for _, file in ipairs(files or {}) do
      local name = file:match "^(.+)%.lua$"
      if name then add(name) end
    end
  end
  table.sort(names)
  return names
end

local function exists(name)
  return package.loaded[name] ~= nil or package.preload[name] ~= nil
    or package.searchpath(name, package.path) ~= nil
end

return setmetatable(spinal, {
  __index = function(t, key)
    if type(key) ~= "string" or not key:match "^[%a_][%w_]*$" then return nil end
    local name = "spinal." .. key
    if not exists(name) then return nil end
    local module = require(name)
    rawset(t, key, module)
    return module
  end,
})
