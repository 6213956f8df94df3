-- fuzz_robot.lua: the Lua side of tests/fuzz/fuzz_robot.c. Returns a function of the fuzz input.
local robot = require "spinal.robot"
local src = os.getenv("SPINAL_SOURCE_DIR") or "."
local bases = { src .. "/robots/rc_car.lua", src .. "/robots/double_pendulum.lua",
  src .. "/robots/quadruped.lua" }

-- a robot file's table, fresh each time (robot files return new tables)
local function base_table(i)
  local env = setmetatable({ include = function() return {} end }, { __index = _G })
  return assert(loadfile(bases[i], "t", env))()
end

local values = { 0, -1, 1e300, -1e300, 0 / 0, 1 / 0, 0.5, 3, 7, "", "x", "model", "lqr",
  "tracker", true, false, {}, { 1, 2 }, { "a", "b", "c" }, { lo = 1 }, { { 1, 2 }, { 3 } } }

-- all table paths of t (parent, key) in a deterministic order
local function paths(t, out, seen)
  out, seen = out or {}, seen or {}
  if seen[t] then return out end
  seen[t] = true
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    out[#out + 1] = { t, k }
    if type(t[k]) == "table" then paths(t[k], out, seen) end
  end
  return out
end

return function(data)
  local n = #data
  if n == 0 then return end
  local b1 = data:byte(1)
  if b1 % 2 == 0 then
    -- source text: run it the way a robot file runs and check the table it returns
    local env = setmetatable({ include = function() return {} end }, { __index = _G })
    local chunk = load(data:sub(2), "=fuzz.lua", "t", env)
    if not chunk then return end
    local ok, t = pcall(chunk)
    if not ok or type(t) ~= "table" then return end
    local _, problems = robot.check(t)
    assert(type(problems) == "table", "check returned no problem list")
    return
  end
  local t = base_table(b1 // 2 % #bases + 1)
  local i = 2
  while i + 1 <= n do
    local ps = paths(t)
    if #ps == 0 then break end
    local op, sel = data:byte(i), data:byte(i + 1)
    local parent, key = table.unpack(ps[sel % #ps + 1])
    if op % 3 == 0 then
      parent[key] = nil
    elseif op % 3 == 1 then
      parent[key] = values[op // 3 % #values + 1]
      if type(parent[key]) == "table" then
        local c = {}
        for k, v in pairs(parent[key]) do c[k] = v end
        parent[key] = c
      end
    else
      parent["k" .. (op // 3)] = values[sel % #values + 1]
    end
    i = i + 2
  end
  local _, problems = robot.check(t)
  assert(type(problems) == "table", "check returned no problem list")
end
