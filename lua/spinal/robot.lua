-- robot.lua: robot definitions: load, validate and build a robot from a robots/*.lua file.
--
-- A robot file is Lua returning one table (docs/robots.md describes every field). load(path)
-- runs it in its own restricted environment under an instruction limit, validates the whole
-- table (read as plain data), reporting EVERY problem at once, each as
-- "<file>: <field path>: <what is wrong>", and only when nothing is wrong builds the approximate
-- model (spinal.model), the default controller (spinal.ctrl) and the normalised plant
-- and safety configurations the HAL opens. Nothing is built from a file with a problem, so a bad
-- file never half-starts a plant.
--
--   local robot = spinal.robot.load "robots/rc_car.lua"     -- raises listing every problem
--   local ok, problems, warnings = spinal.robot.check "robots/rc_car.lua"
--   local scheme, config = robot:plant_config "udp://10.0.0.2:9870"
local model_lib = require "spinal.model"
local ctrl_lib = require "spinal.ctrl"
local array = require "spinal.array"
local linalg = require "spinal.linalg"
-- the limits every plant applies to substeps and delay (hal/hal.h): check applies the same
local PLANT_LIMITS = require("spinal.hal").limits

local M = {}

-- plants.mujoco.perturb: the model's mismatch and the "real" robot's variants (docs/robots.md,
-- docs/quadruped.md); the variants' hard limits are the mujoco backend's
M.VARIANTS = { "payload", "payload_x", "payload_y", "motor", "pd", "latency", "noise", "push",
  "push_time" }
M.VARIANT_LIMITS = {
  payload = { 0, 1e4 }, payload_x = { -10, 10 }, payload_y = { -10, 10 },
  motor = { above = 0, max = 100 }, pd = { above = 0, max = 100 }, latency = { 0, 10 },
  noise = { 0, 1e3 }, push = { -1e4, 1e4 }, push_time = { 0, 1e9 },
}
M.PERTURB_KEYS = { "mass", "friction", "gear", "damping", "frictionloss" }
for _, k in ipairs(M.VARIANTS) do M.PERTURB_KEYS[#M.PERTURB_KEYS + 1] = k end

local INF = math.huge

-- the plant backends a robot file can configure, in the order they are listed
local PLANTS = { "model", "mujoco", "udp" }

-- ---- describing values and paths ----------------------------------------------------------------

-- "string \"1\"", "number 2.5", "boolean true", "a table", "nil"
local function describe(v)
  local t = type(v)
  if t == "string" then
    local s = #v > 40 and v:sub(1, 37) .. "..." or v
    return 'string "' .. s:gsub("[%c\"\\]", function(c)
      return c == '"' and '\\"' or c == "\\" and "\\\\" or string.format("\\%d", c:byte())
    end) .. '"'
  elseif t == "number" then
    return "number " .. (v ~= v and "nan" or tostring(v))
  elseif t == "boolean" then
    return "boolean " .. tostring(v)
  elseif t == "nil" then
    return "nil"
  end
  return "a " .. t
end

-- the path of t[key] below path: "limits.action[2]", "plants.model.params.k_a"
local function join(path, key)
  if math.type(key) == "integer" then return path .. "[" .. key .. "]" end
  if type(key) == "string" and key:match "^[%a_][%w_]*$" then
    return path == "" and key or path .. "." .. key
  end
  local k = type(key) == "string" and string.format("%q", key) or tostring(key)
  return path .. "[" .. k .. "]"
end

-- the valid name closest to name, if it is close enough to be a likely typo
local suggest = require("spinal.suggest").closest

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  return keys
end

local function fmt(v)
  if v == INF then return "inf" elseif v == -INF then return "-inf" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return string.format("%.6g", v)
end

local function zeros(n)
  local z = {}
  for i = 1, n do z[i] = 0 end
  return z
end

-- ---- the problem collector ----------------------------------------------------------------------

local Check = {}
Check.__index = Check

local function new_check(file)
  return setmetatable({ file = file, problems = {}, warnings = {} }, Check)
end

function Check:add(path, msg, ...)
  local text = select("#", ...) > 0 and string.format(msg, ...) or msg
  self.problems[#self.problems + 1] = self.file .. ": " .. (path ~= "" and path .. ": " or "")
    .. text
end

function Check:warn(path, msg, ...)
  local text = select("#", ...) > 0 and string.format(msg, ...) or msg
  self.warnings[#self.warnings + 1] = self.file .. ": warning: " .. path .. ": " .. text
end

-- flag keys of t not in keys (a list), each with a suggestion or the valid keys; what names
-- the kind of key in the message ("key", "parameter of car_drag", "state")
function Check:keys(t, path, keys, what)
  local set = {}
  for _, k in ipairs(keys) do set[k] = true end
  for _, k in ipairs(sorted_keys(t)) do
    if not set[k] then
      local s = suggest(k, keys)
      local hint = s and "did you mean '" .. s .. "'?"
        or (#keys > 0 and "valid: " .. table.concat(keys, ", ") or "none are valid here")
      self:add(join(path, k), "unknown %s (%s)", what or "key", hint)
    end
  end
end

-- a table (or nil when optional); returns it, or nil after reporting
function Check:table(v, path, what, optional)
  if v == nil then
    if not optional then self:add(path, "missing (expected %s)", what) end
    return nil
  end
  if type(v) ~= "table" then
    self:add(path, "expected %s, got %s", what, describe(v))
    return nil
  end
  return v
end

-- a number with optional bounds: opt.min / opt.max (inclusive), opt.above (exclusive),
-- opt.integer, opt.inf (infinite values allowed); returns it or nil
function Check:number(v, path, opt, optional)
  opt = opt or {}
  local what = opt.integer and "an integer" or "a number"
  if opt.above then what = what .. " > " .. fmt(opt.above)
  elseif opt.min and opt.max then
    what = what .. " in [" .. fmt(opt.min) .. ", " .. fmt(opt.max) .. "]"
  elseif opt.min then what = what .. " >= " .. fmt(opt.min) end
  if v == nil then
    if not optional then self:add(path, "missing (expected %s)", what) end
    return nil
  end
  local ok = type(v) == "number" and v == v and (opt.inf or (v ~= INF and v ~= -INF))
    and (not opt.integer or math.tointeger(v) ~= nil)
    and (not opt.min or v >= opt.min) and (not opt.max or v <= opt.max)
    and (not opt.above or v > opt.above)
  if not ok then
    self:add(path, "expected %s, got %s", what, describe(v))
    return nil
  end
  return opt.integer and math.tointeger(v) or v
end

function Check:string(v, path, what, optional)
  if v == nil then
    if not optional then self:add(path, "missing (expected %s)", what) end
    return nil
  end
  if type(v) ~= "string" then
    self:add(path, "expected %s, got %s", what, describe(v))
    return nil
  end
  return v
end

-- one of the choices (strings)
function Check:choice(v, path, choices, default)
  if v == nil then return default end
  if type(v) ~= "string" then
    self:add(path, "expected one of %s, got %s", table.concat(choices, ", "), describe(v))
    return nil
  end
  for _, c in ipairs(choices) do if v == c then return v end end
  local s = suggest(v, choices)
  self:add(path, "expected one of %s, got '%s'%s", table.concat(choices, ", "), v,
    s and " (did you mean '" .. s .. "'?)" or "")
  return nil
end

-- is t a proper list (keys 1..#t only)? reports the first stray key
function Check:list(v, path, what, optional)
  local t = self:table(v, path, what, optional)
  if not t then return nil end
  local n = #t
  for _, k in ipairs(sorted_keys(t)) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      self:add(join(path, k), "unexpected key in %s", what)
      return nil
    end
  end
  -- # of a table with holes is any border: every entry up to it must be there
  for i = 1, n do
    if t[i] == nil then
      self:add(join(path, i), "missing (%s has no holes)", what)
      return nil
    end
  end
  return t
end

-- a vector of n numbers (n may be nil: any length >= 1); opt.scalar: a number means all n
-- entries; names label the entries in the size message; returns a fresh list or nil
function Check:vector(v, path, n, names, opt, optional)
  opt = opt or {}
  if opt.scalar and type(v) == "number" then
    local x = self:number(v, path, opt)
    if not x or not n then return nil end
    local out = {}
    for i = 1, n do out[i] = x end
    return out
  end
  local what = (n and "a list of " .. n .. " numbers" or "a list of numbers")
    .. (opt.scalar and " (or one number for all)" or "")
  local t = self:list(v, path, what, optional)
  if not t then return nil end
  local ok = true
  if n and #t ~= n then
    self:add(path, "expected %d entries%s, got %d", n,
      names and " (one per " .. names .. ")" or "", #t)
    ok = false
  end
  local out = {}
  for i = 1, #t do
    out[i] = self:number(t[i], join(path, i), opt)
    if out[i] == nil then ok = false end
  end
  return ok and out or nil
end

-- a matrix (nested list) of r x c numbers, or a list of n numbers for its diagonal (square);
-- returns nested rows or nil
function Check:matrix(v, path, r, c, opt)
  opt = opt or {}
  local t = self:list(v, path, "a list of " .. r .. " rows (or the " .. r .. " diagonal entries)")
  if not t then return nil end
  if r == c and #t > 0 and type(t[1]) ~= "table" then
    local d = self:vector(t, path, r, nil, opt)
    if not d then return nil end
    local rows = {}
    for i = 1, r do
      rows[i] = {}
      for j = 1, c do rows[i][j] = i == j and d[i] or 0 end
    end
    return rows
  end
  if #t ~= r then
    self:add(path, "expected %d rows, got %d", r, #t)
    return nil
  end
  local rows, ok = {}, true
  for i = 1, r do
    rows[i] = self:vector(t[i], join(path, i), c, nil, opt)
    if not rows[i] then ok = false end
  end
  return ok and rows or nil
end

-- a table keyed by names (states, actions, parameters): unknown names flagged
function Check:named(v, path, names, what, optional)
  local t = self:table(v, path, "a table keyed by " .. what .. " names", optional)
  if not t then return nil end
  self:keys(t, path, names, what)
  return t
end

-- ---- running the file ---------------------------------------------------------------------------

-- A robot file runs in a restricted environment (docs/robots.md, "What a robot file may do"):
-- the pure parts of the standard library, a few of spinal's modules, include() and a text-only
-- load; nothing that touches files, processes or the host (io, os.execute, os.exit, binary
-- chunks). Its run is limited to MAX_INSTRUCTIONS Lua instructions, so a file that loops for ever
-- gets a clear problem instead of hanging check or the REPL.
local MAX_INCLUDE = 8
M.MAX_INSTRUCTIONS = 50000000
local HOOK_EVERY = 10000

-- the spinal modules a robot file may require (read-only views of them)
local MODULES = { "spinal.array", "spinal.linalg", "spinal.model", "spinal.rbd", "spinal.ctrl",
  "spinal.autodiff" }

local RULES = "docs/robots.md, 'What a robot file may do'"

local function readonly(mod, name)
  return setmetatable({}, {
    __index = mod,
    __newindex = function(_, k)
      error(string.format("%s is read-only in a robot file (cannot set '%s')", name, tostring(k)),
        2)
    end,
    __metatable = false,
    __pairs = function() return next, mod, nil end,
    __call = function(_, ...) return mod(...) end,  -- spinal.array(t) makes an array
  })
end

-- a fresh copy of a library table, so the file cannot change the host's
local function copy_lib(lib, skip)
  local out = {}
  for k, v in pairs(lib) do if not (skip and skip[k]) then out[k] = v end end
  return out
end

-- a table whose every field is an error naming what is not available
local function forbidden(name)
  return setmetatable({}, {
    __index = function(_, k)
      error(string.format("%s.%s is not available in a robot file (%s)", name, tostring(k),
        RULES), 2)
    end,
    __metatable = false,
  })
end

-- the budget of one top-level run (include shares it): exhausted once, it stays exhausted, and
-- the file's own pcall cannot swallow it
local function new_budget()
  return { left = M.MAX_INSTRUCTIONS, over = false }
end

local function budget_message()
  return string.format("ran more than %d million Lua instructions (an endless loop?); robot "
    .. "files must finish quickly (%s)", M.MAX_INSTRUCTIONS // 1000000, RULES)
end

local run_file

local function sandbox(path, depth, budget)
  local env = {}
  for _, k in ipairs { "assert", "error", "ipairs", "next", "pairs", "select", "tonumber",
    "tostring", "type", "rawequal", "rawget", "rawlen", "rawset", "print", "_VERSION" } do
    env[k] = _G[k]
  end
  -- a finalizer would run later, in the host, outside the instruction limit
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("setmetatable: __gc is not available in a robot file (" .. RULES .. ")", 2)
    end
    return setmetatable(t, mt)
  end
  env.getmetatable = function(v)
    -- the string metatable would hand out the host's string library
    if type(v) ~= "table" then return nil end
    return getmetatable(v)
  end
  -- pcall and xpcall that re-raise once the instruction budget is spent
  local function recheck(...)
    if budget.over then error(budget_message(), 0) end
    return ...
  end
  env.pcall = function(...) return recheck(pcall(...)) end
  env.xpcall = function(f, h, ...) return recheck(xpcall(f, h, ...)) end
  env.math = copy_lib(math)
  env.string = copy_lib(string, { dump = true })
  env.table = copy_lib(table)
  env.utf8 = copy_lib(utf8)
  env.os = copy_lib({ clock = os.clock, time = os.time, date = os.date, getenv = os.getenv,
    difftime = os.difftime })
  setmetatable(env.os, { __index = function(_, k)
    error(string.format("os.%s is not available in a robot file (%s)", tostring(k), RULES), 2)
  end })
  env.io = forbidden "io"
  env.package = forbidden "package"
  env.coroutine = forbidden "coroutine"
  env.collectgarbage = nil
  -- debug.getinfo for the file's own position (robots/arm3.lua finds its directory this way)
  env.debug = setmetatable({
    getinfo = function(level, what)
      if math.type(level) ~= "integer" then
        error("debug.getinfo: expected a stack level in a robot file", 2)
      end
      local info = debug.getinfo(level + 1, "Sl")
      if not info then return nil end
      return { source = info.source, short_src = info.short_src, currentline = info.currentline,
        linedefined = info.linedefined, what = info.what }
    end,
    traceback = function(msg) return tostring(msg) end,
  }, { __index = function(_, k)
    error(string.format("debug.%s is not available in a robot file (%s)", tostring(k), RULES), 2)
  end })
  env.require = function(name)
    for _, m in ipairs(MODULES) do
      if name == m then return readonly(require(name), name) end
    end
    error(string.format("require: a robot file may require only %s, not %s (%s)",
      table.concat(MODULES, ", "), describe(name), RULES), 2)
  end
  env.load = function(chunk, name, mode, e)
    if mode ~= nil and mode ~= "t" then
      error("load: a robot file may load text chunks only (mode \"t\")", 2)
    end
    return load(chunk, name, "t", e == nil and env or e)
  end
  env.dofile = function(name)
    if type(name) ~= "string" then
      error("dofile: expected a file name, got " .. describe(name), 2)
    end
    local chunk, err = loadfile(name, "t", env)
    if not chunk then error(err, 2) end
    return chunk()
  end
  env.loadfile = nil
  env.include = function(name)
    if type(name) ~= "string" then
      error("include: expected a robot file name, got " .. describe(name), 2)
    end
    if depth >= MAX_INCLUDE then
      error(string.format("include: more than %d levels deep (does a file include itself?)",
        MAX_INCLUDE), 2)
    end
    local dir = path:match "^(.*)/[^/]*$"
    local target = (name:sub(1, 1) == "/" or not dir) and name or dir .. "/" .. name
    local t, err = run_file(target, depth + 1, budget)
    if not t then error(err, 0) end
    return t
  end
  env._G = env
  return env
end

-- run a robot file; returns the table, or nil and "file:line: message". The file sees the
-- sandbox's globals through its own environment (its assignments do not leak) plus
-- include(name), which runs another robot file named relative to this one and returns a fresh
-- copy of its table. The top-level run happens in a coroutine carrying the instruction hook, so
-- the host's own hooks (Ctrl-C) are untouched.
function run_file(path, depth, budget)
  depth = depth or 0
  local top = budget == nil
  budget = budget or new_budget()
  local env = sandbox(path, depth, budget)
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    local verb, reason = err:match "^cannot (%a+) .-: (.*)$"
    if verb then return nil, path .. ": cannot " .. verb .. " the file (" .. reason .. ")" end
    if err:find "attempt to load a binary chunk" then
      return nil, path .. ": a robot file must be Lua source text, not a compiled chunk"
    end
    return nil, err
  end
  local where
  local function handler(msg)
    -- the innermost line of the robot file itself, for errors raised without a position
    for level = 2, 50 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if info.source == "@" .. path and info.currentline > 0 then
        where = path .. ":" .. info.currentline
        break
      end
    end
    return msg
  end
  local ok, result
  if top then
    local co = coroutine.create(function() return xpcall(chunk, handler) end)
    debug.sethook(co, function()
      budget.left = budget.left - HOOK_EVERY
      if budget.left <= 0 then
        budget.over = true
        error(budget_message(), 0)
      end
    end, "", HOOK_EVERY)
    local resumed, a, b = coroutine.resume(co)
    if resumed then ok, result = a, b else ok, result = false, a end
    if coroutine.status(co) == "suspended" then
      ok, result = false, "the file yielded (robot files run to the end)"
    end
  else
    ok, result = xpcall(chunk, handler)
  end
  if budget.over then
    return nil, (top and path .. ": " or "") .. budget_message()
  end
  if not ok then
    local msg = type(result) == "string" and result or "error object is " .. describe(result)
    if not msg:find(path, 1, true) then msg = (where or path) .. ": " .. msg end
    return nil, msg
  end
  if type(result) ~= "table" then
    return nil, path .. ": expected the file to return a robot table, got " .. describe(result)
  end
  return result
end

-- ---- a plain copy of the robot table ------------------------------------------------------------

-- The robot table as plain data: tables copied with raw access (no metamethod of the file's runs
-- during validation: a throwing __index or __pairs cannot reach the checker), metatables
-- dropped. A table that contains itself or nests deeper than MAX_DEPTH is a problem.
local MAX_DEPTH = 32

local function plain(ck, v, path, depth, open)
  if type(v) ~= "table" then return v end
  if open[v] then
    ck:add(path, "refers back to %s (a robot table cannot contain itself)",
      open[v] == "" and "the robot table" or open[v])
    return nil
  end
  if depth > MAX_DEPTH then
    ck:add(path, "nested more than %d tables deep", MAX_DEPTH)
    return nil
  end
  open[v] = path
  local out = {}
  local k, x = next(v)
  while k ~= nil do
    out[k] = plain(ck, x, join(path, k), depth + 1, open)
    k, x = next(v, k)
  end
  open[v] = nil
  return out
end

-- ---- validation ---------------------------------------------------------------------------------

local TOP = { "name", "doc", "state", "action", "rate", "model", "controller", "limits",
  "safety", "plants" }

local function known_models()
  local names = model_lib.list()
  table.sort(names)
  return names
end

-- a model declaration shared by the approximate model and the model plant: name, params,
-- integrator, substeps. Returns { name, info, params (by name), p (vector) } or nil.
local function check_model_class(ck, t, path, default_name)
  local name = t.name
  if name == nil then
    name = default_name or nil
    if default_name == nil then
      ck:add(join(path, "name"), "missing (expected a string naming a registered model)")
    end
  else
    name = ck:string(name, join(path, "name"), "a string naming a registered model")
  end
  local out = {}
  out.integrator = ck:choice(t.integrator, join(path, "integrator"), { "euler", "rk4" }, "rk4")
  out.substeps = ck:number(t.substeps, join(path, "substeps"),
    { integer = true, min = 1, max = PLANT_LIMITS.substeps }, true) or 1
  if not name then return nil end
  local info = model_lib.info(name)
  if not info then
    ck:add(join(path, "name"), "unknown model '%s' (known: %s)", name,
      table.concat(known_models(), ", "))
    return nil
  end
  out.name, out.info = name, info
  return out
end

-- parameters that are physical quantities: what they are and the bound that makes them
-- physical (above: exclusive, min: inclusive). By class for the built-in models; by name pattern
-- for rigid-body trees (spinal.rbd's "<body>.mass", "<body>.ixx", ...)
local PHYSICAL = {
  car_drag = { c_d = { "a drag coefficient", min = 0 } },
  bicycle_kin = { l_f = { "a length", above = 0 }, l_r = { "a length", above = 0 } },
  bicycle_dyn = { m = { "a mass", above = 0 }, Iz = { "an inertia", above = 0 },
    l_f = { "a length", above = 0 }, l_r = { "a length", above = 0 },
    C_f = { "a cornering stiffness", above = 0 }, C_r = { "a cornering stiffness", above = 0 },
    v_min = { "a speed", above = 0 } },
  pendulum = { m = { "a mass", above = 0 }, l = { "a length", above = 0 },
    b = { "a damping", min = 0 } },
  double_pendulum = { m1 = { "a mass", above = 0 }, m2 = { "a mass", above = 0 },
    l1 = { "a length", above = 0 }, l2 = { "a length", above = 0 }, b = { "a damping", min = 0 } },
  cartpole = { m_c = { "a mass", above = 0 }, m_p = { "a mass", above = 0 },
    l = { "a length", above = 0 } },
}
local PHYSICAL_TREE = {
  { "%.mass$", "a mass", min = 0 }, { "%.i[xyz][xyz]$", "an inertia", min = 0, diagonal = true },
  { "%.damping$", "a damping", min = 0 }, { "%.armature$", "an armature", min = 0 },
  { "%.stiffness$", "a stiffness", min = 0 },
}

-- the physical bound of parameter n of class cls, or nil
local function physical(cls, n)
  local rule = PHYSICAL[cls] and PHYSICAL[cls][n]
  if rule then return rule end
  for _, r in ipairs(PHYSICAL_TREE) do
    if n:find(r[1]) and not (r.diagonal and n:sub(-2, -2) ~= n:sub(-1)) then
      return { r[2], min = r.min }
    end
  end
  return nil
end

-- parameters by name over a base (defaults); returns the full vector in p_names order
local function check_params(ck, v, path, info, base)
  local p, byname = {}, {}
  for i, n in ipairs(info.p_names) do
    byname[n] = base and base[n] or info.defaults[n]
  end
  local t = ck:named(v, path, info.p_names, "parameter of " .. info.name, true)
  if t then
    for _, n in ipairs(info.p_names) do
      if t[n] ~= nil then
        local rule = physical(info.name, n)
        local x = ck:number(t[n], join(path, n))
        if x and rule and not ((rule.above and x > rule.above) or (rule.min and x >= rule.min)) then
          ck:add(join(path, n), "expected %s %s %s, got %s", rule[1], rule.above and ">" or ">=",
            fmt(rule.above or rule.min), fmt(x))
          x = nil
        end
        byname[n] = x
      end
    end
  end
  for i, n in ipairs(info.p_names) do p[i] = byname[n] end
  return p, byname
end

-- a list of distinct names
local function check_names(ck, v, path, what)
  local t = ck:list(v, path, "a list of " .. what .. " names")
  if not t then return nil end
  if #t == 0 then
    ck:add(path, "expected at least one %s name", what)
    return nil
  end
  local seen, ok = {}, true
  for i, n in ipairs(t) do
    if type(n) ~= "string" or not n:match "^[%a_][%w_]*$" then
      ck:add(join(path, i), "expected a name (letters, digits, _), got %s", describe(n))
      ok = false
    elseif seen[n] then
      ck:add(join(path, i), "duplicate %s name '%s' (also %s)", what, n, join(path, seen[n]))
      ok = false
    else
      seen[n] = i
    end
  end
  if not ok then return nil end
  local out = {}
  for i, n in ipairs(t) do out[i] = n end
  return out
end

-- action limits: each entry a number m (|u| <= m) or a pair { lo, hi }
local function check_action_limits(ck, v, path, nu, names)
  local t = ck:list(v, path, "a list with one limit per action", false)
  if not t then return nil end
  if nu and #t ~= nu then
    ck:add(path, "expected %d entries (one per action: %s), got %d", nu,
      table.concat(names, ", "), #t)
    return nil
  end
  local lo, hi, ok = {}, {}, true
  for i = 1, #t do
    local p, e = join(path, i), t[i]
    if type(e) == "table" then
      local pair = ck:vector(e, p, 2, nil, { inf = true })
      if pair and not (pair[1] < pair[2]) then
        ck:add(p, "expected { lo, hi } with lo < hi, got { %s, %s }", fmt(pair[1]), fmt(pair[2]))
        pair = nil
      end
      if pair then lo[i], hi[i] = pair[1], pair[2] else ok = false end
    elseif type(e) == "number" then
      local m = ck:number(e, p, { above = 0, inf = true })
      if m then lo[i], hi[i] = -m, m else ok = false end
    else
      ck:add(p, "expected a number (|u| <= m) or a pair { lo, hi }, got %s", describe(e))
      ok = false
    end
  end
  if not ok then return nil end
  return lo, hi
end

local function check_limits(ck, v, path, r)
  local t = ck:table(v, path, "a table with action (and rate) limits")
  if not t then return end
  ck:keys(t, path, { "action", "rate" })
  local names = r.action or {}
  r.u_min, r.u_max = check_action_limits(ck, t.action, join(path, "action"), r.nu, names)
  if t.rate ~= nil then
    r.rate_max = ck:vector(t.rate, join(path, "rate"), r.nu, "action",
      { above = 0, inf = true, scalar = true })
  elseif r.nu then
    r.rate_max = {}
    for i = 1, r.nu do r.rate_max[i] = INF end
  end
end

local function check_safety(ck, v, path, r)
  local t = ck:table(v, path, "a table", true) or {}
  ck:keys(t, path, { "safe_command", "on_fault", "watchdog", "safe_controller" })
  local sp = join(path, "safe_command")
  if t.safe_command == nil then
    if r.nu then
      r.u_safe = {}
      for i = 1, r.nu do r.u_safe[i] = 0 end
    end
  else
    r.u_safe = ck:vector(t.safe_command, sp, r.nu, "action")
  end
  -- the safe command must respect the limits (checked once here, sent unfiltered on a fault)
  if r.nu and r.u_safe and r.u_min then
    for i = 1, r.nu do
      if r.u_safe[i] < r.u_min[i] or r.u_safe[i] > r.u_max[i] then
        ck:add(t.safe_command == nil and sp or join(sp, i),
          "%s%s is outside limits.action[%d] [%s, %s]",
          t.safe_command == nil and "the default (zero) command: " or "", fmt(r.u_safe[i]), i,
          fmt(r.u_min[i]), fmt(r.u_max[i]))
        if t.safe_command == nil then break end
      end
    end
  end
  r.on_fault = ck:choice(t.on_fault, join(path, "on_fault"), { "stop", "hold" }, "stop")
  local wd = ck:number(t.watchdog, join(path, "watchdog"), { min = 0 }, true)
  if wd == nil and t.watchdog == nil and r.rate then wd = 10 / r.rate end
  r.watchdog = wd
end

-- the controller: kind tracker | pd | lqr. Gain names and default gains are the controller
-- class's own (engine/ctrl), read once from a controller of each class when this module loads
-- (checking a file builds nothing).
local function class_gains(c)
  local names, K = c.gain_names, c:gains()
  c:close()
  return { names = names, K = K }
end
local CLASS_GAINS = {
  tracker = { car = class_gains(ctrl_lib.tracker "car"),
              quadruped = class_gains(ctrl_lib.tracker "quadruped") },
  pd = class_gains(ctrl_lib.pd(1)),
}
local TRACKER_SIZE = { car = { 4, 2 }, quadruped = { 3, 2 } }

-- an LQR weight: symmetric, positive semi-definite (Q) or positive definite (R)
local function check_weight(ck, v, path, n, definite)
  local W = ck:matrix(v, path, n, n)
  if not W then return nil end
  for i = 1, n do
    for j = i + 1, n do
      if W[i][j] ~= W[j][i] then
        ck:add(path, "expected a symmetric matrix, got [%d][%d] = %s and [%d][%d] = %s", i, j,
          fmt(W[i][j]), j, i, fmt(W[j][i]))
        return nil
      end
    end
  end
  local w = linalg.eigh(array.new(W))
  local scale = 0
  for i = 1, n do scale = math.max(scale, math.abs(w[i])) end
  if w[1] < -1e-12 * scale or (definite and not (w[1] > 1e-12 * scale)) then
    ck:add(path, "expected a positive %s matrix, its smallest eigenvalue is %s",
      definite and "definite" or "semi-definite", fmt(w[1]))
    return nil
  end
  return W
end

local function check_controller(ck, v, path, r)
  local t = ck:table(v, path, "a table", true)
  if not t then return nil end
  local c = {}
  local kind = ck:choice(t.kind, join(path, "kind"), { "tracker", "pd", "lqr" }, nil)
  if t.kind == nil then ck:add(join(path, "kind"), "missing (expected one of tracker, pd, lqr)") end
  local keys = { "kind", "limits" }
  local extra = { tracker = { "variant", "gains" }, pd = { "gains" },
    lqr = { "gains", "design", "x_eq", "u_eq" } }
  for _, k in ipairs(extra[kind] or { "variant", "gains", "design", "x_eq", "u_eq" }) do
    keys[#keys + 1] = k
  end
  ck:keys(t, path, keys)
  c.kind = kind
  local nx, nu = r.nx, r.nu
  local gp = join(path, "gains")

  if kind == "tracker" then
    c.variant = ck:choice(t.variant, join(path, "variant"), { "car", "quadruped" }, "car")
    if c.variant and nx and nu then
      local want = TRACKER_SIZE[c.variant]
      if nx ~= want[1] or nu ~= want[2] then
        ck:add(t.variant ~= nil and join(path, "variant") or path,
          "the %s tracker needs %d states and %d actions, the robot has %d and %d", c.variant,
          want[1], want[2], nx, nu)
      end
    end
    local cg = CLASS_GAINS.tracker[c.variant or "car"]
    local names, K0 = cg.names, cg.K
    local g = ck:named(t.gains, gp, names, "gain", true) or {}
    c.gains = {}
    for i, n in ipairs(names) do
      c.gains[i] = K0[i]
      if g[n] ~= nil then c.gains[i] = ck:number(g[n], join(gp, n)) end
    end
  elseif kind == "pd" then
    if nx and nu and nx ~= 2 * nu then
      ck:add(join(path, "kind"), "pd needs a state (q, qdot) of 2 x %d actions = %d entries, "
        .. "the robot has %d", nu, 2 * nu, nx)
    end
    local g = ck:table(t.gains, gp, "a table { kp = ..., kd = ... }")
    if g then
      ck:keys(g, gp, CLASS_GAINS.pd.names)
      c.kp = ck:vector(g.kp, join(gp, "kp"), nu, "action", { scalar = true })
      c.kd = ck:vector(g.kd, join(gp, "kd"), nu, "action", { scalar = true }, true)
      if g.kd == nil and nu then
        c.kd = {}
        for i = 1, nu do c.kd[i] = 0 end
      end
    end
  elseif kind == "lqr" then
    if t.gains ~= nil and t.design ~= nil then
      ck:add(path, "give either gains (a fixed K) or design (Q, R), not both")
    elseif t.gains == nil and t.design == nil then
      ck:add(path, "lqr needs gains (a %s x %s matrix K) or design = { Q = ..., R = ... }",
        nu or "nu", nx or "nx")
    end
    if t.gains ~= nil and nx and nu then c.K = ck:matrix(t.gains, gp, nu, nx) end
    local dp = join(path, "design")
    local d = ck:table(t.design, dp, "a table { Q = ..., R = ... }", true)
    if d and nx and nu then
      ck:keys(d, dp, { "Q", "R", "method" })
      c.design = {
        Q = check_weight(ck, d.Q, join(dp, "Q"), nx, false),
        R = check_weight(ck, d.R, join(dp, "R"), nu, true),
        method = ck:choice(d.method, join(dp, "method"), { "discrete", "continuous" }, "discrete"),
      }
    end
    -- the set point: u = u_eq - K (x - x_eq)
    c.x_eq = t.x_eq ~= nil and ck:vector(t.x_eq, join(path, "x_eq"), nx, "state") or nil
    c.u_eq = t.u_eq ~= nil and ck:vector(t.u_eq, join(path, "u_eq"), nu, "action") or nil
    if nx and not c.x_eq then c.x_eq = zeros(nx) end
    if nu and not c.u_eq then c.u_eq = zeros(nu) end
  end

  -- the controller's own clamps: default the robot's action limits
  if t.limits ~= nil then
    c.lo, c.hi = check_action_limits(ck, t.limits, join(path, "limits"), nu, r.action or {})
  else
    c.lo, c.hi = r.u_min, r.u_max
  end
  return c
end

-- a plant's low-level controller (hal/lowlevel.h): { kind = "joint_pd" | "gait", rate = Hz,
-- params = { name = number or list } }. joint_pd's settings are known here; the gait's are the
-- walking controller's own and are checked when the plant opens (it names a bad one).
local LOWLEVEL_KINDS = { "joint_pd", "gait" }
local LOWLEVEL_PARAMS = { joint_pd = { "kp", "kd", "ff", "kp_sit", "kd_sit", "q_sit" } }
local LOWLEVEL_GAINS = { kp = true, kd = true, kp_sit = true, kd_sit = true }

local function check_lowlevel(ck, v, path)
  local t = ck:table(v, path, "{ kind = \"joint_pd\" or \"gait\", rate = Hz, params = { ... } }",
    true)
  if not t then return nil end
  ck:keys(t, path, { "kind", "rate", "every", "params" })
  local out = {}
  if t.kind == nil then
    ck:add(join(path, "kind"), "missing (expected one of %s)", table.concat(LOWLEVEL_KINDS, ", "))
  end
  out.kind = ck:choice(t.kind, join(path, "kind"), LOWLEVEL_KINDS, nil)
  out.rate = ck:number(t.rate, join(path, "rate"), { above = 0 }, true)
  out.every = ck:number(t.every, join(path, "every"),
    { integer = true, min = 1, max = PLANT_LIMITS.substeps }, true)
  if out.rate and out.every then
    ck:add(join(path, "every"), "give rate or every, not both")
  end
  local pp = join(path, "params")
  local pt = ck:table(t.params, pp, "a table of settings by name", true)
  if pt then
    out.params = {}
    local known = out.kind and LOWLEVEL_PARAMS[out.kind]
    if known then ck:keys(pt, pp, known, "setting of " .. out.kind) end
    for _, k in ipairs(sorted_keys(pt)) do
      local kp = join(pp, k)
      if type(k) ~= "string" then
        ck:add(kp, "expected settings by name, got a %s key", type(k))
      elseif type(pt[k]) == "table" then
        out.params[k] = ck:vector(pt[k], kp, nil, nil, LOWLEVEL_GAINS[k] and { min = 0 } or nil)
      else
        out.params[k] = ck:number(pt[k], kp, LOWLEVEL_GAINS[k] and { min = 0 } or nil)
      end
    end
  end
  return out
end

-- plants.model: the "real" system as an engine model
local function check_plant_model(ck, t, path, r, approx)
  ck:keys(t, path, { "name", "params", "integrator", "substeps", "x0", "process_noise",
    "sensor_noise", "delay", "u_init", "seed", "lowlevel" })
  -- the name defaults to the approximate model's (false: that one is invalid, already reported)
  local m = check_model_class(ck, t, path, approx and approx.name or approx)
  local out = {}
  if m then
    out.name, out.integrator, out.substeps = m.name, m.integrator, m.substeps
    local base = approx and approx.name == m.name and approx.params or nil
    out.p, out.params = check_params(ck, t.params, join(path, "params"), m.info, base)
    out.p_names = m.info.p_names
    local same = approx and approx.name == m.name  -- its sizes are already checked
    if r.nx and m.info.nx ~= r.nx and not same then
      ck:add(join(path, "name"), "model %s has %d states (%s), the robot has %d", m.name,
        m.info.nx, table.concat(m.info.x_names, ", "), r.nx)
    end
    if r.nu and m.info.nu ~= r.nu and not same then
      ck:add(join(path, "name"), "model %s has %d actions (%s), the robot has %d", m.name,
        m.info.nu, table.concat(m.info.u_names, ", "), r.nu)
    end
  end
  local nx, nu = r.nx, r.nu
  out.x0 = t.x0 ~= nil and ck:vector(t.x0, join(path, "x0"), nx, "state") or nil
  out.process_noise = t.process_noise ~= nil and ck:vector(t.process_noise,
    join(path, "process_noise"), nx, "state", { min = 0, scalar = true }) or nil
  out.sensor_noise = t.sensor_noise ~= nil and ck:vector(t.sensor_noise,
    join(path, "sensor_noise"), nx, "state", { min = 0, scalar = true }) or nil
  out.delay = ck:number(t.delay, join(path, "delay"),
    { integer = true, min = 0, max = PLANT_LIMITS.delay }, true) or 0
  out.u_init = t.u_init ~= nil and ck:vector(t.u_init, join(path, "u_init"), nu, "action") or nil
  out.seed = ck:number(t.seed, join(path, "seed"), { integer = true, min = 0 }, true) or 0
  out.lowlevel = check_lowlevel(ck, t.lowlevel, join(path, "lowlevel"))
  return out
end

-- one state source of plants.mujoco.state: { qpos = joint, index = i } | { qvel = joint, ... } |
-- { sensor = name, ... } | { yaw = free or ball joint } | { body_pos = body, index = i } |
-- { body_yaw = body } | { body_vel = body, index = i } | { body_angvel = body, index = i }, each
-- with optional scale and offset (the mujoco backend's sources, docs/api/hal.md)
local SOURCES = { "qpos", "qvel", "sensor", "yaw", "body_pos", "body_yaw", "body_vel",
  "body_angvel" }
local SOURCE_LIST = table.concat(SOURCES, ", ")
local NAME_OF = { sensor = "sensor", yaw = "joint", qpos = "joint", qvel = "joint" }

local function check_mujoco_source(ck, e, path)
  local t = ck:table(e, path, "a table such as { qpos = \"joint\", index = 1 }")
  if not t then return nil end
  local keys = { "index", "scale", "offset" }
  for _, k in ipairs(SOURCES) do keys[#keys + 1] = k end
  ck:keys(t, path, keys)
  local kind, found = nil, 0
  for _, k in ipairs(SOURCES) do
    if t[k] ~= nil then kind, found = k, found + 1 end
  end
  if found ~= 1 then
    ck:add(path, found == 0 and "expected one source: " .. SOURCE_LIST
      or "expected exactly one source (" .. SOURCE_LIST .. "), got %d", found)
    return nil
  end
  local name = ck:string(t[kind], join(path, kind), "a " .. (NAME_OF[kind] or "body")
    .. " name in the MJCF")
  if (kind == "yaw" or kind == "body_yaw") and t.index ~= nil then
    ck:add(join(path, "index"), "%s takes no index", kind)
  end
  local s = {
    source = kind, name = name,
    index = ck:number(t.index, join(path, "index"),
      { integer = true, min = 1, max = PLANT_LIMITS.index }, true) or 1,
    scale = ck:number(t.scale, join(path, "scale"), nil, true) or 1,
    offset = ck:number(t.offset, join(path, "offset"), nil, true) or 0,
  }
  if s.scale == 0 then
    ck:add(join(path, "scale"), "expected a nonzero number, got 0")
    return nil
  end
  return name and s or nil
end

-- one actuator target: "name" or { actuator = "name", scale = s, offset = o }
local function check_actuator(ck, e, path)
  if type(e) == "string" then return { name = e, scale = 1, offset = 0 } end
  local t = ck:table(e, path, "an actuator name or { actuator = name, scale = s, offset = o }")
  if not t then return nil end
  ck:keys(t, path, { "actuator", "scale", "offset" })
  local a = {
    name = ck:string(t.actuator, join(path, "actuator"), "an actuator name in the MJCF"),
    scale = ck:number(t.scale, join(path, "scale"), nil, true) or 1,
    offset = ck:number(t.offset, join(path, "offset"), nil, true) or 0,
  }
  if a.scale == 0 then
    ck:add(join(path, "scale"), "expected a nonzero number, got 0")
    return nil
  end
  return a.name and a or nil
end

local function file_exists(path)
  local f = io.open(path, "r")
  if not f then return false end
  f:close()
  return true
end

local function check_plant_mujoco(ck, t, path, r)
  ck:keys(t, path, { "mjcf", "state", "actuators", "substeps", "keyframe", "sensor_noise",
    "process_noise", "wheels", "perturb", "delay", "seed", "lowlevel" })
  local out = {}
  local mjcf = ck:string(t.mjcf, join(path, "mjcf"),
    "the MJCF file name, relative to the robot file")
  if mjcf then
    out.mjcf = mjcf:sub(1, 1) == "/" and mjcf or (r.dir == "." and mjcf or r.dir .. "/" .. mjcf)
    if not file_exists(out.mjcf) then
      ck:warn(join(path, "mjcf"), "%s does not exist: the mujoco plant cannot open until it does",
        out.mjcf)
    else
      -- what the plant refuses when it opens (NaN, a bad timestep, XML errors), refused here
      local ok, err = require("spinal.rbd").check_mjcf(out.mjcf)
      if not ok then ck:add(join(path, "mjcf"), "%s", err) end
    end
  end
  local sp, ap = join(path, "state"), join(path, "actuators")
  local st = r.state and ck:named(t.state, sp, r.state, "state") or nil
  if st then
    out.state = {}
    for i, n in ipairs(r.state) do
      if st[n] == nil then
        ck:add(join(sp, n), "missing (expected where state '%s' comes from, "
          .. "e.g. { qpos = \"joint\", index = 1 })", n)
      else
        out.state[i] = check_mujoco_source(ck, st[n], join(sp, n))
      end
    end
  end
  local at = r.action and ck:named(t.actuators, ap, r.action, "action") or nil
  if at then
    out.actuators = {}
    for i, n in ipairs(r.action) do
      local p, e = join(ap, n), at[n]
      if e == nil then
        ck:add(p, "missing (expected the actuator(s) that action '%s' drives)", n)
      elseif type(e) == "table" and e.actuator == nil and #e > 0 then
        -- one action driving several actuators (two rear wheels)
        out.actuators[i] = {}
        for j = 1, #e do out.actuators[i][j] = check_actuator(ck, e[j], join(p, j)) end
      else
        out.actuators[i] = { check_actuator(ck, e, p) }
      end
    end
  end
  out.substeps = ck:number(t.substeps, join(path, "substeps"),
    { integer = true, min = 1, max = PLANT_LIMITS.substeps }, true) or 0
  out.keyframe = ck:string(t.keyframe, join(path, "keyframe"), "a keyframe name in the MJCF", true)
  out.sensor_noise = t.sensor_noise ~= nil and ck:vector(t.sensor_noise,
    join(path, "sensor_noise"), r.nx, "state", { min = 0, scalar = true }) or nil
  out.process_noise = ck:number(t.process_noise, join(path, "process_noise"), { min = 0 }, true)
  if t.wheels ~= nil then
    local w = ck:table(t.wheels, join(path, "wheels"), "a list of wheel joint names")
    if w then
      out.wheels = {}
      for i = 1, #w do
        out.wheels[i] = ck:string(w[i], join(join(path, "wheels"), i), "a joint name in the MJCF")
      end
    end
  end
  if t.perturb ~= nil then
    -- checked in full by the backend when the plant opens (it knows the MJCF's names)
    local q = ck:table(t.perturb, join(path, "perturb"),
      "{ mass = s, friction = s, gear = s, damping = s, frictionloss = f, payload = kg, ... }")
    if q then
      local pp = join(path, "perturb")
      ck:keys(q, pp, M.PERTURB_KEYS)
      -- the "real" robot's variants: the hard limits the backend applies (docs/quadruped.md
      -- gives the ranges the walking controller is meant to handle)
      for _, k in ipairs(M.VARIANTS) do
        local lim = M.VARIANT_LIMITS[k]
        if lim.above then
          ck:number(q[k], join(pp, k), { above = lim.above, max = lim.max }, true)
        else
          ck:number(q[k], join(pp, k), { min = lim[1], max = lim[2] }, true)
        end
      end
      if (q.pd ~= nil and q.pd ~= 1) and t.lowlevel == nil then
        ck:add(join(pp, "pd"), "scales the low-level controller's gains, and this plant has "
          .. "none (declare plants.mujoco.lowlevel)")
      end
      -- the values the backend accepts (the names are checked against the MJCF when it opens)
      for _, k in ipairs { "mass", "friction", "gear" } do
        local e = q[k]
        if type(e) == "table" then
          for _, name in ipairs(sorted_keys(e)) do
            if type(name) ~= "string" then
              ck:add(join(join(pp, k), name), "expected { name = scale > 0, ... }, got a %s key",
                type(name))
            else
              ck:number(e[name], join(join(pp, k), name), { above = 0 })
            end
          end
        elseif e ~= nil and type(e) ~= "number" then
          ck:add(join(pp, k), "expected a scale > 0 or { name = scale }, got %s", describe(e))
        else
          ck:number(e, join(pp, k), { above = 0 }, true)
        end
      end
      ck:number(q.damping, join(pp, "damping"), { above = 0 }, true)
      ck:number(q.frictionloss, join(pp, "frictionloss"), { min = 0 }, true)
      out.perturb = q
    end
  end
  out.delay = ck:number(t.delay, join(path, "delay"),
    { integer = true, min = 0, max = PLANT_LIMITS.delay }, true) or 0
  out.seed = ck:number(t.seed, join(path, "seed"), { integer = true, min = 0 }, true) or 0
  out.lowlevel = check_lowlevel(ck, t.lowlevel, join(path, "lowlevel"))
  return out
end

local function check_plant_udp(ck, t, path)
  ck:keys(t, path, { "address", "port" })
  local out = {}
  out.address = ck:string(t.address, join(path, "address"), "a host name or IP address")
  out.port = ck:number(t.port, join(path, "port"), { integer = true, min = 1, max = 65535 })
  return out
end

local function check_plants(ck, v, path, r, approx)
  local t = ck:table(v, path, "a table of plant configurations (model, mujoco, udp)")
  if not t then return nil end
  ck:keys(t, path, PLANTS, "plant")
  local out, any = {}, false
  local checks = { model = check_plant_model, mujoco = check_plant_mujoco, udp = check_plant_udp }
  for _, b in ipairs(PLANTS) do
    if t[b] ~= nil then
      any = true
      local pt = ck:table(t[b], join(path, b), "a table configuring the " .. b .. " plant")
      if pt then out[b] = checks[b](ck, pt, join(path, b), r, approx) end
    end
  end
  if not any and next(t) == nil then
    ck:add(path, "expected at least one plant (model, mujoco or udp)")
  end
  return out
end

-- validate a robot table; returns the normalised declaration (r) filled as far as it is valid
local TABLE_LABEL = "(robot table)"

local function validate(ck, t, path)
  local r = { file = path, dir = path ~= TABLE_LABEL and path:match "^(.*)/[^/]*$" or "." }
  ck:keys(t, "", TOP)

  local name = ck:string(t.name, "name", "a string naming the robot")
  if name and not name:match "^[%a_][%w_%-]*$" then
    ck:add("name", "expected a name of letters, digits, _ and -, got %s", describe(name))
  elseif name and #name > 63 then
    ck:add("name", "expected at most 63 characters, got %d", #name)
  else
    r.name = name
  end
  r.doc = ck:string(t.doc, "doc", "a string", true)
  r.state = check_names(ck, t.state, "state", "state")
  r.action = check_names(ck, t.action, "action", "action")
  r.nx = r.state and #r.state or nil
  r.nu = r.action and #r.action or nil
  r.rate = ck:number(t.rate, "rate", { above = 0 })

  -- the approximate model
  local mt = ck:table(t.model, "model", "a table { name = ..., params = ... }")
  local approx = false  -- false: declared but invalid
  if mt then
    ck:keys(mt, "model", { "name", "params", "integrator", "substeps" })
    approx = check_model_class(ck, mt, "model") or false
    if approx then
      approx.p, approx.params = check_params(ck, mt.params, "model.params", approx.info)
      local info = approx.info
      if r.nx and info.nx ~= r.nx then
        ck:add("state", "%d names, but model %s has %d states (%s)", r.nx, info.name, info.nx,
          table.concat(info.x_names, ", "))
      end
      if r.nu and info.nu ~= r.nu then
        ck:add("action", "%d names, but model %s has %d actions (%s)", r.nu, info.name, info.nu,
          table.concat(info.u_names, ", "))
      end
    end
  end
  r.model = approx or nil

  check_limits(ck, t.limits, "limits", r)
  check_safety(ck, t.safety, "safety", r)
  r.controller = check_controller(ck, t.controller, "controller", r)
  -- the safe behaviour: a controller declared like the main one, plus its reference
  local sc = type(t.safety) == "table" and t.safety.safe_controller
  if sc ~= nil and sc ~= false then
    local sp = "safety.safe_controller"
    local decl = {}
    if type(sc) == "table" then
      for k, v in pairs(sc) do if k ~= "reference" then decl[k] = v end end
    else
      decl = sc
    end
    r.safe_controller = check_controller(ck, decl, sp, r)
    if r.safe_controller and type(sc) == "table" and sc.reference ~= nil then
      r.safe_controller.reference = ck:vector(sc.reference, join(sp, "reference"), nil, "entry")
    end
  end
  r.plants = check_plants(ck, t.plants, "plants", r, approx)
  return r
end

-- ---- building -----------------------------------------------------------------------------------

local function cat(a, b)
  local out = {}
  for i = 1, #a do out[#out + 1] = a[i] end
  for i = 1, #b do out[#out + 1] = b[i] end
  return out
end

-- are the r x c entries of the matrix a all finite?
local function finite(a, r, c)
  for i = 1, r do
    for j = 1, c do
      local v = a[i][j]
      if v ~= v or v == INF or v == -INF then return false end
    end
  end
  return true
end

-- build the model and the controller of a valid declaration; design problems go to ck.
-- returns model, controller, reference, design report (the caller closes them on failure)
local build_controller

local function build(ck, r)
  local a = r.model
  local model = model_lib.new(a.name, a.params, {
    dt = 1 / r.rate, integrator = a.integrator, substeps = a.substeps })
  local safe_ctl, safe_ref
  if r.safe_controller then
    safe_ctl, safe_ref = build_controller(ck, r, r.safe_controller, model,
      "safety.safe_controller")
  end
  if not r.controller then return model, nil, nil, nil, safe_ctl, safe_ref end
  local ctl, ref, report = build_controller(ck, r, r.controller, model, "controller")
  return model, ctl, ref, report, safe_ctl, safe_ref
end

-- the controller c (a checked declaration) for the model; design problems go to ck under path.
-- Returns controller, reference, design report; nil when the design failed
function build_controller(ck, r, c, model, path)
  local ctl, ref, report
  if c.kind == "tracker" then
    ctl = ctrl_lib.tracker(c.variant)
    ctl:set_gains(c.gains)
  elseif c.kind == "pd" then
    ctl = ctrl_lib.pd(r.nu, c.kp, c.kd)
    ref = zeros(3 * r.nu)
  elseif c.kind == "lqr" then
    local A, B = model:jac(c.x_eq, c.u_eq)
    if not (finite(A, r.nx, r.nx) and finite(B, r.nx, r.nu)) then
      ck:add("controller", "the model's Jacobians at x_eq, u_eq are not finite (is the set point "
        .. "or a model parameter out of the model's range?)")
      return model
    end
    local K, method = c.K and array.new(c.K), "given"
    if not K then
      local d = c.design
      local Q, R = array.new(d.Q), array.new(d.R)
      local ok, err
      method = d.method
      if d.method == "continuous" then
        local fx, fu = model:f_jac(c.x_eq, c.u_eq)
        if not (finite(fx, r.nx, r.nx) and finite(fu, r.nx, r.nu)) then
          ck:add("controller", "the model's continuous Jacobians at x_eq, u_eq are not finite "
            .. "(is the set point or a model parameter out of the model's range?)")
          return model
        end
        ok, K, err = pcall(ctrl_lib.lqr_gain, fx, fu, Q, R, "continuous")
      else
        ok, K, err = pcall(ctrl_lib.lqr_gain, A, B, Q, R, "discrete")
      end
      if not ok then K, err = nil, K end
      -- the engine's wording without its position or function prefix
      err = tostring(err):gsub("^[^:]*%.lua:%d+: ", ""):gsub("^lqr_gain: ", "")
      if not K then
        ck:add(path .. ".design", "no stabilising LQR gain for this model at x_eq, u_eq (%s)",
          tostring(err))
        return nil
      end
    end
    -- every gain, designed or given, must stabilise the model's discrete step
    local rho = ctrl_lib.closed_loop(A, B, K)
    local drift = 0
    local xn = model:step(c.x_eq, c.u_eq)
    for i = 1, r.nx do drift = math.max(drift, math.abs(xn[i] - c.x_eq[i])) end
    report = { rho = rho, drift = drift, method = method }
    local where = path .. (c.K and ".gains" or ".design")
    if rho >= 1 then
      ck:add(where, "the %s is unstable on the model's discrete step (spectral radius %.3g at "
        .. "dt = %g)%s", c.K and "gain" or method .. " design", rho, 1 / r.rate,
        method == "continuous" and "; use method = \"discrete\"" or "")
    end
    if drift * r.rate > 1e-6 then
      ck:warn(c.K and path or path .. ".design", "x_eq is not an equilibrium of the "
        .. "model under u_eq (one step moves it by %.3g)", drift)
    end
    ctl = ctrl_lib.lqr(K)
    ref = cat(c.x_eq, c.u_eq)
  end
  local lo, hi = c.lo, c.hi
  if lo then ctl:set_limits(lo, hi) else ctl:set_limits(nil, nil) end
  -- a reference given with the declaration (the safe controller's posture)
  if c.reference then
    if #c.reference ~= ctl.nr then
      ck:add(path .. ".reference", "expected %d entries (the %s controller's reference), got %d",
        ctl.nr, ctl.name, #c.reference)
    end
    ref = c.reference
  end
  return ctl, ref, report
end

-- ---- the robot object ---------------------------------------------------------------------------

local Robot = {}
Robot.__index = Robot
Robot.__name = "spinal.robot"  -- help(robot) finds its docs (docs/robots.md)
M.Robot = Robot

function Robot:__tostring()
  return string.format("robot %s (%s)", self.name, M.summary(self))
end

-- "4 states, 2 actions, 50 Hz, plants: model, mujoco"
function M.summary(robot)
  local names = {}
  for _, b in ipairs(PLANTS) do if robot.plants[b] then names[#names + 1] = b end end
  return string.format("%d state%s, %d action%s, %g Hz, plants: %s", robot.nx,
    robot.nx == 1 and "" or "s", robot.nu, robot.nu == 1 and "" or "s", robot.rate,
    table.concat(names, ", "))
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- the HAL configuration for a backend ("model", "mujoco") or a URI ("udp://host:port"), by
-- default the robot's default plant (the first declared of model, mujoco, udp):
-- returns scheme, config (a fresh table the caller may change, fields named as spinal.hal.open
-- reads them), uri; or nil, message
function Robot:plant_config(uri)
  uri = uri or self.default_plant
  if type(uri) ~= "string" then
    return nil, "expected a backend name or URI, got " .. describe(uri)
  end
  local scheme, rest = uri:match "^([%a][%w+.-]*)://(.*)$"
  scheme = scheme or uri
  local d = self.plants[scheme]
  local cfg = { robot = self.name, rate = self.rate }
  if scheme == "udp" then
    -- the handshake checks the robot's names and sizes against these, and asks the robot for
    -- the same watchdog the host's safety filter uses
    cfg.x_names, cfg.u_names = copy(self.state), copy(self.action)
    cfg.watchdog = self.safety and self.safety.watchdog or nil
    if d then cfg.address, cfg.port = d.address, d.port end
    if rest and rest ~= "" then
      local host, port = rest:match "^%[?([^%]]*)%]?:(%d+)$"
      if not host or host == "" or tonumber(port) < 1 or tonumber(port) > 65535 then
        return nil, "bad udp URI '" .. uri .. "' (expected udp://host:port)"
      end
      cfg.address, cfg.port = host, tonumber(port)
    end
    if not cfg.address then
      return nil, self.file .. " declares no udp plant; give its address: udp://host:port"
    end
    return "udp", cfg, string.format("udp://%s:%d", cfg.address, cfg.port)
  end
  if not d then
    local have = {}
    for _, b in ipairs(PLANTS) do if self.plants[b] then have[#have + 1] = b end end
    return nil, string.format("%s declares no %s plant (declared: %s)", self.file, scheme,
      table.concat(have, ", "))
  end
  cfg.x_names, cfg.u_names = copy(self.state), copy(self.action)
  cfg.u_min, cfg.u_max = copy(self.safety.u_min), copy(self.safety.u_max)
  cfg.substeps, cfg.delay, cfg.seed = d.substeps, d.delay, d.seed
  cfg.sensor_std = copy(d.sensor_noise)
  if scheme == "model" then
    cfg.model, cfg.params, cfg.p_names = d.name, copy(d.p), copy(d.p_names)
    cfg.integrator, cfg.x0, cfg.u_init = d.integrator, copy(d.x0), copy(d.u_init)
    cfg.process_std = copy(d.process_noise)
    cfg.lowlevel = copy(d.lowlevel)
  else
    cfg.mjcf, cfg.state, cfg.actuators = d.mjcf, copy(d.state), copy(d.actuators)
    cfg.keyframe, cfg.wheels, cfg.perturb = d.keyframe, copy(d.wheels), copy(d.perturb)
    cfg.process_std = d.process_noise
    cfg.lowlevel = copy(d.lowlevel)
  end
  return scheme, cfg, scheme
end

-- open the plant through the HAL (spinal.hal): the plant, or nil, message (one line: a
-- configuration the binding refuses is reported, not raised)
function Robot:open(uri)
  local scheme, cfg = self:plant_config(uri)
  if not scheme then return nil, cfg end
  local ok, plant, err = pcall(require("spinal.hal").open, scheme, cfg)
  if not ok then
    local msg = tostring(plant):gsub("^[^:\n]*%.lua:%d+: ", "")
    msg = msg:match "^bad argument #%d+ to '[^']*' %((.*)%)$" or msg
    return nil, string.format("the %s plant's configuration: %s", scheme, msg)
  end
  return plant, err
end

-- free the model and controller now (they are also collected)
function Robot:close()
  if self.controller then self.controller:close() end
  if self.safety.safe_controller then self.safety.safe_controller:close() end
  if self.model then self.model:close() end
end

-- ---- entry points -------------------------------------------------------------------------------

-- validate and (when everything is valid) build; returns robot or nil, and the checker
-- (src: a file path, or a robot table written in a script; problems then start "(robot table)")
local function process(src)
  local path = type(src) == "table" and TABLE_LABEL or src
  local ck = new_check(path)
  if type(src) ~= "string" and type(src) ~= "table" then
    ck.problems[1] = "expected a robot file name or a robot table, got " .. describe(src)
    return nil, ck
  end
  local t, err = src, nil
  if type(src) == "string" then t, err = run_file(src) end
  if not t then
    ck.problems[1] = err
    return nil, ck
  end
  t = plain(ck, t, "", 0, {})
  if #ck.problems > 0 then return nil, ck end
  local r = validate(ck, t, path)
  if #ck.problems > 0 then return nil, ck end

  local ok, model, ctl, ref, report, safe_ctl, safe_ref = pcall(build, ck, r)
  if not ok then
    -- one line without the library's position: the file and what failed
    ck:add("", "cannot build the model or controller: %s",
      (tostring(model):gsub("^[^:\n]*%.lua:%d+: ", "")))
    return nil, ck
  end
  if #ck.problems > 0 then
    if ctl then ctl:close() end
    if safe_ctl then safe_ctl:close() end
    model:close()
    return nil, ck
  end

  local robot = setmetatable({
    name = r.name, doc = r.doc, file = path, dir = r.dir,
    state = r.state, action = r.action, nx = r.nx, nu = r.nu,
    rate = r.rate, dt = 1 / r.rate,
    model = model, controller = ctl, reference = ref, design = report,
    spec = r,
    limits = { action_min = r.u_min, action_max = r.u_max, rate = r.rate_max },
    -- named as plant:rollout reads them (safe, u_min, u_max, rate_max, watchdog)
    safety = {
      u_min = r.u_min, u_max = r.u_max, rate_max = r.rate_max, safe = r.u_safe,
      watchdog = r.watchdog, period = 1 / r.rate, on_fault = r.on_fault,
      latch_faults = r.on_fault == "hold", stop_on_fault = r.on_fault == "stop",
      -- the safe behaviour, when declared: a controller and its reference (spinal.loop runs it
      -- on faults, e-stop and hold instead of the constant safe command)
      safe_controller = safe_ctl, safe_reference = safe_ref,
    },
    plants = r.plants,
  }, Robot)
  for _, b in ipairs(PLANTS) do
    if r.plants[b] and not robot.default_plant then robot.default_plant = b end
  end
  return robot, ck
end

-- Load a robot file (or a robot table): the robot object, or an error listing every problem (one
-- per line).
function M.load(path)
  local robot, ck = process(path)
  -- each problem already names the file and field: no position prefix (level 0)
  if not robot then error(table.concat(ck.problems, "\n"), 0) end
  robot.warnings = ck.warnings
  return robot
end

-- Check a robot file without keeping anything: ok, problems (list of strings), warnings.
function M.check(path)
  local robot, ck = process(path)
  if robot then robot:close() end
  return robot ~= nil, ck.problems, ck.warnings, robot
end

-- `spinal check FILE...`: prints one line per file (or every problem); returns the exit status
function M.main(paths, out, err)
  out, err = out or io.stdout, err or io.stderr
  if #paths == 0 then
    err:write "spinal check: expected one or more robot files (spinal check ROBOT.lua ...)\n"
    return 2
  end
  local status = 0
  for _, path in ipairs(paths) do
    local ok, problems, warnings, robot = M.check(path)
    for _, w in ipairs(warnings) do err:write(w, "\n") end
    if ok then
      out:write(string.format("%s: ok (%s: %s)\n", path, robot.name, M.summary(robot)))
      out:flush()
    else
      for _, p in ipairs(problems) do err:write(p, "\n") end
      err:write(string.format("%s: %d problem%s\n", path, #problems, #problems == 1 and "" or "s"))
      status = 1
    end
  end
  return status
end

return M
