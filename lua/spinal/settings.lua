-- settings.lua: key=value command-line overrides and spinal.settings(defaults [, opts]).
--
-- `spinal train.lua iters=30 opt.lr=1e-3 name=run1` gives the script
--   spinal.args = { iters = 30, opt = { lr = 0.001 }, name = "run1" }
-- ("true"/"false" become booleans, numbers go through tonumber, the rest stay strings; dotted
-- keys nest, a numeric segment indexes a list). spinal.settings(defaults) merges the same
-- overrides over a defaults table, converting each to the type of its default and rejecting keys
-- the defaults do not have.

-- a mistake in the command line's overrides: its message alone is what the user needs (the host
-- prints an error object's __tostring without a traceback), so it is raised as such an object
local USAGE = { __tostring = function(e) return e.message end }
local function usage(msg, level)
  error(setmetatable({ message = msg }, USAGE), level)
end

local M = {}

local has_host, host = pcall(require, "spinal.host")
if not has_host then host = nil end

-- Ranges: a setting may declare the values it accepts, { min = a, max = b } (inclusive) or
-- { above = a, max = b } (a excluded), through opts.ranges (by dotted name); a list's range
-- holds for each entry. The names below, common to spinal's experiments, have these ranges
-- unless the caller declares others. Every number must be finite and every integer's magnitude
-- at most 2^53 whatever its range.
M.RANGES = {
  iters = { min = 1, max = 100000 },          -- learning iterations
  seeds = { min = 1, max = 10000 },           -- how many seeds, or which (finetune_table)
  jobs = { min = 1, max = 256 },              -- finetune_table: runs at a time
  target_ratio = { above = 0, max = 10 },     -- finetune_table: after / before counted as met
  seed = { min = 0, max = 2 ^ 53 },
  seconds = { above = 0, max = 86400 },       -- plant time of one rollout: a day at most
  lr = { above = 0, max = 10 },
  trust = { above = 0, max = 1e6 },           -- gn: trust radius, RMS action change
  trust_max = { above = 0, max = 1e6 },
  hidden = { min = 1, max = 4096 },           -- units per hidden layer
  layers = { min = 1, max = 63 },             -- hidden layers
  samples = { min = 1, max = 1e9 },           -- simulator transitions (a data budget)
  test_samples = { min = 1, max = 1e9 },
  wm_steps = { min = 1, max = 65536 },        -- steps of a world model's rollout loss
  horizon = { min = 1, max = 65536 },         -- steps rolled out or evaluated
  batch = { min = 1, max = 1000000 },
  rate = { above = 0, max = 100000 },         -- Hz
  segment = { min = 0, max = 1000000 },       -- control steps (0: the whole horizon)
  gamma = { above = 0, max = 100 },           -- model mismatch factor
  gammas = { above = 0, max = 100 },
  radius = { above = 0, max = 1000 },         -- m
  period = { above = 0, max = 86400 },        -- s
  rollouts = { min = 1, max = 10000 },
  pairs = { min = 1, max = 10000 },
  budget = { above = 0, max = 1e7 },          -- plant seconds
  sigma = { min = 0, max = 1e6 },
  es_sigma = { min = 0, max = 1e6 },
  target_frac = { above = 0, max = 100 },
  settle = { min = 0, max = 86400 },          -- s
  process_noise = { min = 0, max = 1e6 },
  mass_scale = { above = 0, max = 1000 },
  friction = { min = 0, max = 1e6 },
  set_scale = { min = 0, max = 1e6 },
  gain_scale = { min = 0, max = 1e6 },
  tol = { above = 0, max = 1e6 },
  success_cost = { above = 0, max = 1e12 },
  target = { min = -100, max = 100 },        -- m, a point in the world (each coordinate)
  tx = { min = -100, max = 100 },
  ty = { min = -100, max = 100 },
  speed = { above = 0, max = 1 },             -- m/s: a velocity-commanded robot's path speed
  laps = { above = 0, max = 1000 },           -- periods of a periodic task per rollout
  fall_height = { min = 0, max = 10 },        -- m: a legged robot's trunk below it has fallen
  hold = { above = 0, max = 3600 },           -- s per command of a schedule
  contact_margin = { min = 0, max = 1 },      -- m: a foot this close to the ground touches it
  foot_radius = { min = 0, max = 1 },         -- m
  -- the "real" perturbations of a simulated robot (spinal.perturb, docs/quadruped.md)
  payload = { min = 0, max = 20 },            -- kg
  payload_x = { min = -0.3, max = 0.3 },      -- m
  payload_y = { min = -0.3, max = 0.3 },      -- m
  motor = { above = 0, max = 10 },            -- torque scale
  pd = { above = 0, max = 10 },               -- PD gain scale
  damping = { above = 0, max = 100 },         -- joint damping scale
  frictionloss = { min = 0, max = 100 },      -- N m added to every joint
  latency = { min = 0, max = 1 },             -- s
  noise = { min = 0, max = 10 },              -- std on the measured state
  push = { min = -1000, max = 1000 },         -- N s
  push_time = { min = 0, max = 86400 },       -- s
  -- method 2's loop (experiments/quadruped_imitate.lua, spinal.imitate)
  stop = { min = 0, max = 1e6 },              -- stop after this iteration (0: never)
  wm_hidden = { min = 1, max = 4096 },
  wm_layers = { min = 1, max = 63 },
  wm_batch = { min = 1, max = 1000000 },
  wm_iters = { min = 0, max = 1e6 },          -- world-model batches per round
  wm_lr = { above = 0, max = 10 },
  pol_hidden = { min = 1, max = 4096 },
  pol_layers = { min = 1, max = 63 },
  lat = { min = 1, max = 1024 },              -- latent size
  pol_batch = { min = 1, max = 1000000 },
  pol_iters = { min = 0, max = 1e6 },         -- policy batches per round
  pol_lr = { above = 0, max = 10 },
  beta = { min = 0, max = 1e6 },              -- KL weight
  collect = { min = 1, max = 1e9 },           -- plant transitions per round
  episode_steps = { min = 1, max = 1e9 },
  act_noise = { min = 0, max = 10 },          -- rad
  eval_every = { min = 1, max = 1e6 },
  eval_progress_seconds = { above = 0, max = 86400 },
  eval_seconds = { above = 0, max = 86400 },
  ckpt_every = { min = 1, max = 1e6 },
  -- fine-tuning on a "real" robot (experiments/quadruped_finetune.lua, spinal.finetune)
  pre_samples = { min = 1, max = 1e9 },       -- simulator transitions to pre-train on
  real_seconds = { above = 0, max = 86400 },  -- robot time for fine-tuning data, s
  mix = { min = 0, max = 1 },                 -- share of simulator windows in world-model batches
  wm_recent = { min = 0, max = 1 },           -- share of the robot's from the last round alone
  anchor = { min = 0, max = 1e9 },            -- weight of the action-distance regulariser
  anchor_batch = { min = 1, max = 1e6 },
  start_mix = { min = 0, max = 1 },           -- share of the policy's start states from pre-training
  eval_clips = { min = 0, max = 1e6 },        -- held-out clips evaluated (0: all)
  h_hidden = { min = 1, max = 4096 },         -- the command network's width
  h_layers = { min = 1, max = 63 },
  decoder_lr = { above = 0, max = 10 },       -- the decoder's Adam (fresh) when fine-tuned with h
  latent_noise = { min = 0, max = 10 },       -- scale of a latent policy's exploration noise
  wm_velocity = { min = 0, max = 1e6 },       -- a world model's velocity loss weight (0: its own)
  paths = { min = -1, max = 1 },              -- share of path commands (-1: command.ranges')
  correction = { min = 0, max = 1 },          -- share of h's rows on corrected recorded windows
  round_anchor = { min = 0, max = 1e9 },      -- h's anchor to itself at each round's start
  calibrate_seconds = { min = 0, max = 3600 }, -- s of the robot budget for h's command calibration
  calibrate_hold = { above = 0, max = 60 },   -- s per command of the calibration
  h_average = { min = 0, max = 1 },           -- share of a round's last batches h is averaged over
  sensor_noise = { min = -1, max = 10 },      -- std of the noise h's rollouts show it (-1: measured)
  noise_seconds = { above = 0, max = 3600 },  -- s of the robot budget standing, its noise measured
  observer_gain = { min = 0, max = 1 },       -- the observer's gain (0: from the noise estimated)
  observer_model_std = { above = 0, max = 10 }, -- the prediction's std its gain assumes
  observer_bias = { min = 0, max = 0.5 },     -- the observer's bias rate (0: no bias estimate)
  -- command following (experiments/quadruped_command.lua, spinal.command)
  imitate_samples = { min = 1, max = 1e9 },   -- simulator transitions for the imitation policy
  rounds = { min = 0, max = 1e6 },            -- collect / train rounds (finetune: collect / fine-tune)
  h_iters = { min = 0, max = 1e7 },           -- h's batches (per round in quadruped_command)
  course_seconds = { above = 0, max = 86400 },-- s of one random course while collecting
  fit_samples = { min = 0, max = 1e9 },       -- the warm start's states (0: no warm start)
  fit_epochs = { min = 1, max = 1e6 },
  fit_cross = { min = 0, max = 1 },           -- fraction of crossed pairs
  fit_cross_frame = { min = 0, max = 1e6 },   -- the other clip's frame (0: a random one)
  clock_period = { min = 0, max = 60 },       -- s: a gait clock's period (0: none)
  backward = { min = 0, max = 1 },            -- share of the vx commands drawn backward
  circle_radius = { above = 0, max = 1000 },  -- m
  figure8_radius = { above = 0, max = 1000 }, -- m
  path_seconds = { min = 0, max = 86400 },    -- s of each path evaluated (0: one lap)
  start_command = { min = -10, max = 10 },    -- vx, vy, wz of the evaluation's start
  -- PPO (experiments/ppo_quadruped.lua, docs/ppo.md)
  minutes = { min = 0, max = 1e6 },           -- wall-time cap (0: none)
  nenvs = { min = 1, max = 1e6 },             -- environments stepped together
  threads = { min = 1, max = 1024 },          -- worker threads
  nsteps = { min = 1, max = 1e6 },            -- steps per environment per iteration
  eval_envs = { min = 1, max = 1e6 },
  eval_steps = { min = 1, max = 1e8 },
  desired_kl = { min = 0, max = 10 },         -- 0: a learning-rate schedule instead
  entropy_coef = { min = 0, max = 100 },
  init_std = { above = 0, max = 100 },        -- the policy's initial sigma (action units)
  epochs = { min = 1, max = 1e6 },            -- passes over each rollout
  minibatches = { min = 1, max = 1e6 },       -- per pass (must divide nenvs * nsteps)
  lambda = { min = 0, max = 1 },              -- GAE lambda (PPO's discount gamma: [0, 1] there)
  -- the PPO comparison (experiments/ppo_vs_world_model.lua)
  wm_samples = { min = 1, max = 1e9 },        -- method 2's budget
  wm_eval_every = { min = 1, max = 1e6 },
  ppo_factor = { above = 0, max = 1e6 },      -- PPO's budget in method 2's
  ppo_minutes = { min = 0, max = 1e6 },       -- PPO's wall-time cap per seed (0: none)
  ppo_eval_every = { min = 1, max = 1e6 },
}

-- The standard settings whose values are real numbers (seconds, rates, weights, scales), as
-- opposed to counts: an override may be a fraction even where a script wrote the default as an
-- integer (`settle = 2` takes settle=0.5, as a float). Every range with an exclusive bound
-- (`above`) is one; the names below are the rest. A caller's range makes its setting one with
-- `real = true`.
M.REAL = {}
for name, r in pairs(M.RANGES) do
  if r.above ~= nil then M.REAL[name] = true end
end
for name in ([[
  sigma es_sigma settle process_noise friction set_scale gain_scale target tx ty fall_height
  contact_margin foot_radius payload payload_x payload_y frictionloss latency noise push push_time
  beta act_noise mix wm_recent anchor start_mix latent_noise wm_velocity paths correction round_anchor
  calibrate_seconds fit_cross clock_period backward path_seconds start_command minutes desired_kl
  entropy_coef lambda ppo_minutes sensor_noise observer_gain observer_bias
]]):gmatch "%S+" do M.REAL[name] = true end

local EXACT = 2 ^ 53

-- "an integer in [1, 100000]", "a number > 0 and <= 10"
local function range_text(integer, r)
  local kind = integer and "an integer" or "a number"
  local function f(v)
    if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) <= EXACT) then
      return string.format("%d", v)
    end
    return string.format("%.6g", v)
  end
  if not r then return kind end
  if r.above and r.max then return kind .. " > " .. f(r.above) .. " and <= " .. f(r.max) end
  if r.min and r.max then return kind .. " in [" .. f(r.min) .. ", " .. f(r.max) .. "]" end
  if r.above then return kind .. " > " .. f(r.above) end
  if r.min then return kind .. " >= " .. f(r.min) end
  if r.max then return kind .. " <= " .. f(r.max) end
  return kind
end

local function in_range(v, r)
  if not r then return true end
  return (r.min == nil or v >= r.min) and (r.above == nil or v > r.above)
    and (r.max == nil or v <= r.max)
end

-- the value of an override's text when nothing says what type it should have
function M.value(text)
  if text == "true" then return true end
  if text == "false" then return false end
  local n = tonumber(text)
  if n ~= nil then return n end
  return text
end

-- a setting holding a comma-separated list of integers ("1,2,3": seeds, layer widths) as a Lua
-- list; anything else is refused naming the setting: who: name=text: expected ...; min: the
-- smallest integer allowed (nil: any)
function M.integers(who, name, text, min)
  local out = {}
  text = tostring(text)
  for item in (text .. ","):gmatch "([^,]*)," do
    local n = math.tointeger(tonumber(item))
    if not n or (min and n < min) then
      error(("%s: %s=%s: expected a comma-separated list of integers%s (e.g. 1,2,3)")
        :format(who, name, text, min and (" >= %d"):format(min) or ""), 0)
    end
    out[#out + 1] = n
  end
  return out
end

-- "a.b.2=x" -> { "a", "b", 2 }, "x"; nil when item is not an override
local function split(item)
  if type(item) ~= "string" then return nil end
  local key, text = item:match "^([%a_][%w_.]*)=(.*)$"
  if not key then return nil end
  local path = {}
  for segment in (key .. "."):gmatch "([^.]*)%." do
    if segment == "" then usage(("bad override '%s' (empty name in '%s')"):format(item, key), 0) end
    path[#path + 1] = math.tointeger(tonumber(segment)) or segment
  end
  return path, text
end
M.split = split

-- the raw key=value arguments given on the command line
function M.overrides()
  return host and host.overrides() or {}
end

-- parse a list of "key=value" strings (other items are skipped) into a nested table
function M.parse(list)
  local args, origin = {}, {}
  for _, item in ipairs(list or {}) do
    local path, text = split(item)
    if path then
      local t, key = args, ""
      for i = 1, #path - 1 do
        key = key .. path[i] .. "."
        local next_t = t[path[i]]
        if next_t == nil then
          next_t = {}
          t[path[i]] = next_t
        elseif type(next_t) ~= "table" then
          usage(("conflicting overrides '%s' and '%s'"):format(origin[key:sub(1, -2)], item), 0)
        end
        t = next_t
      end
      key = key .. path[#path]
      if type(t[path[#path]]) == "table" then
        local other
        for k, v in pairs(origin) do
          if k:sub(1, #key + 1) == key .. "." then other = v end
        end
        usage(("conflicting overrides '%s' and '%s'"):format(other, item), 0)
      end
      t[path[#path]] = M.value(text)
      origin[key] = item
    end
  end
  return args
end

local function is_list(t)
  return type(t) == "table" and #t > 0 and next(t, #t) == nil
end

local function deepcopy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deepcopy(x) end
  return setmetatable(c, getmetatable(v))
end

-- every settable name in defaults, dotted, sorted
function M.names(defaults, prefix, out)
  out = out or {}
  for k, v in pairs(defaults) do
    local name = (prefix or "") .. tostring(k)
    if type(v) == "table" and not is_list(v) then
      M.names(v, name .. ".", out)
    else
      out[#out + 1] = name
    end
  end
  if not prefix then table.sort(out) end
  return out
end

-- whether setting `name` (dotted) with caller's ranges is real-valued (M.REAL)
local function is_real(name, ranges)
  if type(name) ~= "string" then return false end
  local r = ranges and ranges[name]
  return (r ~= nil and r.real == true) or (not name:find "%." and M.REAL[name] == true)
end

-- convert an override's text to the type of its default (a float for a real setting), within
-- range r (or nil)
local function convert(default, text, item, r, real)
  local kind = type(default)
  if kind == "number" then
    local integer = math.type(default) == "integer" and not real
    local function bad()
      usage(("bad override '%s' (expected %s)"):format(item, range_text(integer, r)), 0)
    end
    local n = tonumber(text)
    if n == nil or n ~= n or n == math.huge or n == -math.huge then bad() end
    -- hexadecimal integers wrap around silently (0x10000000000000005 reads as 5)
    if math.type(n) == "integer" and text:find "^%s*[-+]?0[xX]" then
      local exact = tonumber(text:gsub("%s+$", "") .. "p0")
      if exact ~= n then bad() end
    end
    if integer then
      local i = math.tointeger(n)
      if i == nil or i > EXACT or i < -EXACT then bad() end
      n = i
    else
      n = n + 0.0
    end
    if not in_range(n, r) then bad() end
    return n
  elseif kind == "boolean" then
    if text == "true" then return true end
    if text == "false" then return false end
    usage(("bad override '%s' (expected true or false)"):format(item), 0)
  elseif kind == "string" then
    return text
  elseif is_list(default) then
    local list = {}
    for piece in (text .. ","):gmatch "([^,]*)," do
      if piece ~= "" or text ~= "" then
        list[#list + 1] = convert(default[1], piece, item, r, real)
      end
    end
    return list
  elseif kind == "table" then
    usage(("bad override '%s' (a group of settings: set its fields, e.g. %s.%s=...)")
      :format(item, item:match "^[^=]*", M.names(default)[1] or "name"), 0)
  end
  usage(("bad override '%s' (a %s setting cannot be set from the command line)")
    :format(item, kind), 0)
end

local function unknown(item, defaults)
  local names = M.names(defaults)
  local valid = table.concat(names, ", ")
  local close = require("spinal.suggest").closest(item:match "^[^=]*", names)
  usage(("unknown setting in '%s' (%svalid: %s)"):format(item,
    close and "did you mean '" .. close .. "'? " or "", valid ~= "" and valid or "none"), 0)
end

-- an argument that looks like key=value but whose key is not one (h.-1=5)
local function bad_key(item)
  usage(("bad override '%s' (the key '%s' is not a setting name: names of letters, digits "
    .. "and _ joined by dots, list entries as name.1, name.2, ...)"):format(item,
    item:match "^[^=]*"), 0)
end

-- the top-level names each table M.settings returned had set by its overrides (for M.fill)
local set_by = setmetatable({}, { __mode = "k" })

-- defaults merged with the overrides (opts.args: a list of "key=value", default: the command
-- line), each converted to its default's type; unknown keys are errors unless opts.allow_unknown
function M.settings(defaults, opts)
  if type(defaults) ~= "table" then
    error(("bad argument #1 to 'settings' (expected a table of defaults, got %s)")
      :format(type(defaults)), 2)
  end
  opts = opts or {}
  local ranges = opts.ranges or {}
  local result = deepcopy(defaults)
  local set = {}
  set_by[result] = { set = set, ranges = ranges }
  -- a script run as `spinal SCRIPT.lua ...` takes settings only: a bare word (`quick` for
  -- `quick=true`) would otherwise run the defaults without a word
  if opts.args == nil and type(arg) == "table" and type(arg[0]) == "string"
      and arg[0]:match "%.lua$" then
    for i = 1, #arg do
      local item = arg[i]
      if not split(item) and not item:match "^[%a_][^=]*=" then
        local names = M.names(defaults)
        local close = require("spinal.suggest").closest(item, names)
        usage(("unexpected argument '%s' (settings are key=value%s)"):format(item,
          close and (", did you mean '%s=...'?"):format(close)
            or names[1] and (", e.g. %s=..."):format(names[1]) or ""), 0)
      end
    end
  end
  for _, item in ipairs(opts.args or M.overrides()) do
    local path, text = split(item)
    if not path and type(item) == "string" and item:match "^[%a_][^=]*=" then bad_key(item) end
    if path then
      set[path[1]] = true
      local def, res = defaults, result
      for i, key in ipairs(path) do
        local d
        if type(def) == "table" then d = def[key] end
        if d == nil and math.type(key) == "integer" and is_list(def) then
          usage(("bad override '%s' (%s has entries 1 to %d; set the whole list with %s=%s)")
            :format(item, table.concat(path, ".", 1, i - 1), #def,
              table.concat(path, ".", 1, i - 1), table.concat(def, ",")), 0)
        end
        if d == nil then
          if not opts.allow_unknown then unknown(item, defaults) end
          if type(res) ~= "table" then
            usage(("bad override '%s' (%s is not a group of settings)")
              :format(item, table.concat(path, ".", 1, i - 1)), 0)
          end
          for j = i, #path - 1 do
            if type(res[path[j]]) ~= "table" then res[path[j]] = {} end
            res = res[path[j]]
          end
          res[path[#path]] = M.value(text)
          break
        end
        if i == #path then
          -- the range of the setting (a list entry takes its list's)
          local name = table.concat(path, ".", 1, math.type(key) == "integer" and i - 1 or i)
          local r = ranges[name]
          if r == nil and not name:find "%." then r = M.RANGES[name] end
          res[key] = convert(d, text, item, r, is_real(name, ranges))
        elseif type(d) ~= "table" then
          unknown(item, defaults)
        else
          def, res = d, res[key]
        end
      end
    end
  end
  return result
end

-- the defaults that depend on other settings (quick=true's sizes, a policy's own learning rate):
-- cfg[k] = v for each k, v of values that cfg's overrides did not set. cfg: a table M.settings
-- returned; each k one of its top-level settings, v of its type (a number converted to an
-- integer or a float as an override would be). Returns cfg.
function M.fill(cfg, values)
  local made = set_by[cfg]
  if made == nil then
    error("bad argument #1 to 'fill' (expected a table spinal.settings returned)", 2)
  end
  for k, v in pairs(values) do
    if cfg[k] == nil then
      error(("bad argument #2 to 'fill' ('%s' is not a setting: valid: %s)")
        :format(tostring(k), table.concat(M.names(cfg), ", ")), 2)
    end
    if type(v) ~= type(cfg[k]) then
      error(("bad argument #2 to 'fill' (%s=%s: the setting is a %s)")
        :format(k, tostring(v), type(cfg[k])), 2)
    end
    if type(v) == "number" then
      if math.type(cfg[k]) == "float" or is_real(k, made.ranges) then
        v = v + 0.0
      else
        v = math.tointeger(v)
          or error(("bad argument #2 to 'fill' (%s=%s: the setting is an integer)"):format(k, v), 2)
      end
    end
    if not made.set[k] then cfg[k] = v end
  end
  return cfg
end

return setmetatable(M, {
  __call = function(_, defaults, opts) return M.settings(defaults, opts) end,
})
