-- gaitlib.lua: the gait library (spinal.gaitlib): reference motions for method 2's imitation,
-- recorded from the quadruped's own walking controller in MuJoCo (docs/api/gaitlib.md).
--
--   local gaitlib = require "spinal.gaitlib"
--   local index = assert(gaitlib.build { out = "runs/gait_library", quick = false, seed = 1,
--                                        log = print })
--   local lib = assert(gaitlib.load "runs/gait_library")
--     -- lib.train, lib.test: lists of spinal.motion clips; lib.entries.train[i] /
--     -- lib.entries.test[i]: their index entries (gait, command, ...); lib.index: index.json
--   local lib = assert(gaitlib.ensure())   -- the shared library (gaitlib.default_dir()), built
--                                           -- once and reused while its settings match
--
-- How a clip is made. robots/quadruped.lua's MuJoCo plant with its walking controller
-- (engine/ctrl/gait.h) running inside the plant every 1 ms physics step, commanded in the
-- controller's (vx, vy, wz) at 50 Hz (the joint-level policy rate), with the controller's `gait`
-- setting chosen per clip (0 trot, 1 pace, 2 bound). Each clip starts from the "stand" keyframe,
-- walks a warm-up at its command (so the clip starts in a steady gait; its length is jittered
-- by up to one gait period from `seed`, so clips start at different gait phases), then records
-- `seconds` of MuJoCo's configuration at 50 Hz: trunk position, trunk quaternion and the 12
-- joint angles, one frame per tick. A transition clip switches to its second command halfway
-- through; a gait transition clip switches the controller's gait there too (`gait_to`: the
-- plant's set_lowlevel, while it walks; the controller blends the legs' phase offsets from one
-- gait's pattern to the other's over switch_cycles gait cycles). The frames are re-expressed in the frame of the clip's first one (horizontal position
-- 0, heading 0; height and tilt kept), so every clip starts at the origin facing +x. A clip in
-- which the robot fell (trunk below `fall_height`, or tilted more than 60 degrees, at any tick,
-- warm-up included) is not written; the index lists it under `rejected` with the time it fell.
--
-- The split. The training clips cover a grid of commands; the held-out (test) clips use
-- commands between the grid's values (interleaved speeds, lateral speeds and turn rates),
-- transitions between pairs of commands that no training clip pairs and gait transitions (pairs
-- of gaits and commands) that no training clip makes, so no test clip's settings (gait, second
-- gait, command, second command) equal a training clip's. `M.grid(quick)` lists them.
local motion = require "spinal.motion"
local A = require "spinal.array"
local json = require "spinal.json"

local M = {}

M.FORMAT = "spinal-gait-library"
-- the library's version: raised whenever the grid, the recording or the walking controller that
-- makes the clips changes, so ensure() rebuilds libraries written by an older spinal (3: the
-- controller's push damping and acceleration feed-forward changed every clip of version 2)
M.VERSION = 3
M.RATE = 50  -- Hz: frames per second, the joint-level policy rate
M.GAITS = { "trot", "pace", "bound" }  -- the walking controller's `gait` setting 0, 1, 2
local GAIT_ID = { trot = 0, pace = 1, bound = 2 }

-- which gaits the library holds and why the others are left out (docs/api/gaitlib.md)
M.EXCLUDED = {}

M.DEFAULTS = {
  robot = "robots/quadruped.lua",
  seconds = 10,        -- s recorded per clip (quick: 2)
  warmup = 2,          -- s walked at the command before recording (quick: 1), plus the jitter
  fall_height = 0.15,  -- m: a trunk below this has fallen
  seed = 1,
}

-- the default location of the shared library (relative to the working directory, like runs/):
-- runs/gait_library, and runs/gait_library_quick for the quick one
function M.default_dir(quick)
  return quick and "runs/gait_library_quick" or "runs/gait_library"
end

-- ---- the grid ------------------------------------------------------------------------------

local function cmd_text(c)
  return ("vx %.2f vy %.2f wz %.2f"):format(c[1], c[2], c[3])
end

local function cmd_file(c)
  return ("vx%+.3f_vy%+.3f_wz%+.3f"):format(c[1], c[2], c[3])
end

-- the key of a clip's settings: clips with equal keys are the same motion
local function settings_key(gait, cmd, to, gait_to)
  local k = gait .. " " .. cmd_text(cmd)
  if to or gait_to then
    k = k .. " -> " .. (gait_to and gait_to .. " " or "") .. cmd_text(to or cmd)
  end
  return k
end
M.settings_key = settings_key

-- the clips to record: a list of { gait =, command = {vx, vy, wz}, command_to = nil | {...},
-- gait_to = nil | "pace" ..., split = "train" | "test" }, in recording order
function M.grid(quick)
  local list = {}
  local function add(split, gait, cmd, to, gait_to)
    list[#list + 1] = { split = split, gait = gait, command = cmd, command_to = to,
                        gait_to = gait_to }
  end
  if quick then
    -- a few seconds of simulation: every kind of clip once
    add("train", "trot", { 0.5, 0, 0 })
    add("train", "trot", { 1.0, 0, 0 })
    add("train", "trot", { 0.5, 0, 0.5 })
    add("train", "trot", { 0, 0.3, 0 })
    add("train", "trot", { 0.5, 0, 0 }, { 1.0, 0, 0 })
    add("test", "trot", { 0.75, 0, 0 })
    add("test", "trot", { 0.25, 0, 0.25 })
    add("test", "trot", { 0.25, 0, 0 }, { 0.75, 0, 0 })
    add("train", "trot", { 0.5, 0, 0 }, nil, "pace")
    add("test", "pace", { 0.25, 0, 0 }, nil, "trot")
    return list
  end
  -- trot: forward speeds x turn rates, lateral speeds, transitions
  for _, vx in ipairs { -0.5, 0, 0.25, 0.5, 0.75, 1.0 } do
    for _, wz in ipairs { -1, -0.5, 0, 0.5, 1 } do add("train", "trot", { vx, 0, wz }) end
  end
  for _, vy in ipairs { -0.3, 0.3 } do
    for _, vx in ipairs { 0, 0.5 } do add("train", "trot", { vx, vy, 0 }) end
  end
  add("train", "trot", { 0.5, 0.3, 0.5 })
  add("train", "trot", { 0.5, -0.3, -0.5 })
  local tr_train = {
    { { 0, 0, 0 }, { 0.5, 0, 0 } }, { { 0.5, 0, 0 }, { 1, 0, 0 } }, { { 1, 0, 0 }, { 0.5, 0, 0 } },
    { { 0.5, 0, 0 }, { 0, 0, 0 } }, { { 0.5, 0, 0 }, { 0.5, 0, 0.5 } },
    { { 0.5, 0, 0.5 }, { 0.5, 0, -0.5 } }, { { 0, 0, 0 }, { 0, 0.3, 0 } },
    { { 0.5, 0, 0 }, { 0, 0, 1 } },
  }
  for _, p in ipairs(tr_train) do add("train", "trot", p[1], p[2]) end
  -- held out: interleaved speeds and turn rates, lateral speeds, and unseen transitions
  for _, c in ipairs { { 0.375, 0, 0 }, { 0.625, 0, 0.25 }, { 0.875, 0, -0.25 },
                       { 0.125, 0, 0.75 }, { 0.625, 0, -0.75 }, { -0.25, 0, 0.25 },
                       { 0.25, 0.15, 0 }, { 0.375, -0.15, 0.25 }, { 0, -0.2, -0.75 } } do
    add("test", "trot", c)
  end
  for _, p in ipairs { { { 0.25, 0, 0 }, { 0.75, 0, 0 } }, { { 0.75, 0, 0 }, { 0.75, 0, -0.5 } },
                       { { 0.75, 0, 0.25 }, { 0.25, 0, 0 } } } do
    add("test", "trot", p[1], p[2])
  end
  -- pace (sides in phase): forward and backward speeds and turn rates; no lateral commands (the
  -- pace reaches about half a commanded lateral speed: 0.15 of 0.3 m/s)
  for _, vx in ipairs { -0.5, 0, 0.25, 0.5, 0.75, 1.0 } do
    for _, wz in ipairs { -0.5, 0, 0.5 } do add("train", "pace", { vx, 0, wz }) end
  end
  add("train", "pace", { 0, 0, 0 }, { 0.5, 0, 0 })
  add("train", "pace", { 0.5, 0, 0 }, { 1, 0, 0 })
  add("train", "pace", { 1, 0, 0 }, { 1, 0, 0.5 })
  for _, c in ipairs { { 0.375, 0, 0.25 }, { 0.875, 0, -0.25 }, { 0.625, 0, 0 } } do
    add("test", "pace", c)
  end
  add("test", "pace", { 0.25, 0, 0 }, { 0.75, 0, 0 })
  -- bound (front pair, rear pair): forward speeds to 0.5 m/s (it reaches 0.67 of 0.75 and
  -- 0.18 of -0.25 m/s), gentle turns, lateral steps
  for _, vx in ipairs { 0, 0.25, 0.5 } do
    for _, wz in ipairs { -0.25, 0, 0.25 } do add("train", "bound", { vx, 0, wz }) end
  end
  add("train", "bound", { 0, 0.3, 0 })
  add("train", "bound", { 0, -0.3, 0 })
  add("train", "bound", { 0, 0, 0 }, { 0.5, 0, 0 })
  add("train", "bound", { 0.5, 0, 0 }, { 0.25, 0, 0 })
  for _, c in ipairs { { 0.375, 0, 0 }, { 0.125, 0, -0.125 }, { 0, 0.15, 0 } } do
    add("test", "bound", c)
  end
  add("test", "bound", { 0.25, 0, 0 }, { 0.5, 0, 0 })
  -- gait transitions (the gait changes halfway through, at the clip's command or with a new
  -- one): every ordered pair of gaits at speeds all three walk, in training; held out, the pairs
  -- at other speeds, with turns and with a command change at the switch. (Never at a zero
  -- command: the controller stands still there, in any gait.)
  local gt_train = {
    { "trot", "pace", { 0.5, 0, 0 } }, { "pace", "trot", { 0.5, 0, 0 } },
    { "trot", "bound", { 0.25, 0, 0 } }, { "bound", "trot", { 0.25, 0, 0 } },
    { "pace", "bound", { 0.25, 0, 0 } }, { "bound", "pace", { 0.25, 0, 0 } },
    { "trot", "pace", { 1, 0, 0 } }, { "pace", "trot", { 0, 0, 0.5 } },
    { "trot", "bound", { 0, 0, 0.25 } }, { "bound", "trot", { 0.5, 0, 0 } },
    { "trot", "pace", { 0.5, 0, 0.5 } }, { "trot", "bound", { 0.5, 0, 0 }, { 0.25, 0, 0 } },
  }
  for _, g in ipairs(gt_train) do add("train", g[1], g[3], g[4], g[2]) end
  local gt_test = {
    { "trot", "pace", { 0.75, 0, 0.25 } }, { "pace", "trot", { 0.375, 0, 0 }, { 0.75, 0, 0 } },
    { "trot", "bound", { 0.375, 0, 0 } }, { "bound", "trot", { 0.375, 0, -0.25 } },
    { "pace", "bound", { 0.5, 0, 0 } }, { "bound", "pace", { 0.125, 0, 0 } },
  }
  for _, g in ipairs(gt_test) do add("test", g[1], g[3], g[4], g[2]) end
  return list
end

-- ---- recording -------------------------------------------------------------------------------

-- a reproducible uniform stream in [0, 1) (a 64-bit LCG; the library's only randomness is the
-- warm-up jitter)
local function lcg(seed)
  local x = seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
  return function()
    x = x * 6364136223846793005 + 1442695040888963407
    return ((x >> 11) & ((1 << 53) - 1)) / 2.0 ^ 53
  end
end

local LEGS, JOINTS = { "FR", "FL", "RR", "RL" }, { "abd", "hip", "knee" }

-- the robot's MuJoCo plant at the velocity-command level, at M.RATE, reporting qpos (19) then
-- the trunk's body-frame linear velocity (3) and angular velocity (3); gait: the controller's
-- gait setting; params: more walking-controller settings
local function open_plant(robot_path, gait, params)
  local lok, robot = pcall(require("spinal.robot").load, robot_path)
  if not lok then return nil, tostring(robot) end
  local scheme, pcfg = robot:plant_config "mujoco"
  if not scheme then return nil, ("%s: %s"):format(robot_path, tostring(pcfg)) end
  if not (pcfg.lowlevel and pcfg.lowlevel.kind == "gait") then
    return nil, ("%s: the mujoco plant has no walking controller (lowlevel = { kind = \"gait\" })")
      :format(robot_path)
  end
  local state, names = {}, {}
  local function add(name, src)
    state[#state + 1], names[#names + 1] = src, name
  end
  for i, n in ipairs { "x", "y", "z", "qw", "qx", "qy", "qz" } do
    add(n, { qpos = "root", index = i })
  end
  for _, l in ipairs(LEGS) do
    for _, j in ipairs(JOINTS) do add("q_" .. l .. "_" .. j, { qpos = l .. "_" .. j }) end
  end
  for i, n in ipairs { "bvx", "bvy", "bvz" } do add(n, { body_vel = "trunk", index = i }) end
  for i, n in ipairs { "bwx", "bwy", "bwz" } do add(n, { body_angvel = "trunk", index = i }) end
  pcfg.state, pcfg.x_names = state, names
  pcfg.actuators = { { { name = "vx" } }, { { name = "vy" } }, { { name = "wz" } } }
  pcfg.u_names = { "vx", "vy", "wz" }
  pcfg.u_min, pcfg.u_max = { -2, -1, -2 }, { 2, 1, 2 }
  pcfg.rate = M.RATE
  local p = {}
  for k, v in pairs(pcfg.lowlevel.params or {}) do p[k] = v end
  for k, v in pairs(params or {}) do p[k] = v end
  p.gait = GAIT_ID[gait]
  pcfg.lowlevel = { kind = "gait", params = p, rate = pcfg.lowlevel.rate,
                    every = pcfg.lowlevel.every }
  local plant, err = require("spinal.hal").open(scheme, pcfg)
  if not plant then return nil, ("%s: mujoco plant: %s"):format(robot_path, tostring(err)) end
  return plant
end

local function yaw_of(w, x, y, z)
  return math.atan(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
end

-- the frames (n x 19) re-expressed in the frame of the first one's heading and position
local function reframe(F)
  local n = F.shape[1]
  local x0, y0 = F[1][1], F[1][2]
  local a = -yaw_of(F[1][4], F[1][5], F[1][6], F[1][7])
  local c, s = math.cos(a), math.sin(a)
  local hw, hz = math.cos(a / 2), math.sin(a / 2)
  for i = 1, n do
    local r = F[i]
    local dx, dy = r[1] - x0, r[2] - y0
    r[1], r[2] = c * dx - s * dy, s * dx + c * dy
    local w, x, y, z = r[4], r[5], r[6], r[7]
    r[4], r[5], r[6], r[7] = hw * w - hz * z, hw * x - hz * y, hw * y + hz * x, hw * z + hz * w
  end
end

-- record one clip on an open plant: returns { frames = (n x 19), measured = (n x 6) } or nil,
-- "fell at T s" (T from the start of the warm-up)
local function record(plant, spec, o, jitter)
  local rate = M.RATE
  local nwarm = math.floor((o.warmup + jitter) * rate + 0.5)
  local n = math.floor(o.seconds * rate + 0.5) + 1
  local switch = (spec.command_to or spec.gait_to) and o.seconds / 2 or math.huge
  local F, V = A.zeros(n, 19), A.zeros(n, 6)
  plant:set_lowlevel { gait = spec.gait }  -- applied at the first tick after the reset
  plant:reset()
  plant:activate()
  local _, t0 = plant:read()
  local switched = false
  for k = 1, nwarm + n - 1 do
    -- the command of the period that starts at clip time (k - 1 - nwarm) / rate
    local tc = (k - 1 - nwarm) / rate
    local after = tc >= switch - 1e-9
    local cmd = after and spec.command_to or spec.command
    if after and spec.gait_to and not switched then
      plant:set_lowlevel { gait = spec.gait_to }
      switched = true
    end
    plant:write(cmd)
    local x, t = plant:read()
    local up = 1 - 2 * (x[5] * x[5] + x[6] * x[6])  -- the trunk's z axis, world z component
    if x[3] < o.fall_height or up < 0.5 or x[3] ~= x[3] then
      return nil, ("fell at %.2f s"):format(t - t0)
    end
    local i = k - nwarm + 1
    if i >= 1 then
      for c = 1, 19 do F[i][c] = x[c] end
      for c = 1, 6 do V[i][c] = x[19 + c] end
    end
  end
  return { frames = F, measured = V }
end

-- the mean of columns cols of the states S over rows [i0, i1]
local function mean_cols(S, cols, i0, i1)
  local m = {}
  for j, c in ipairs(cols) do
    local s = 0
    for i = i0, i1 do s = s + S[i][c] end
    m[j] = s / (i1 - i0 + 1)
  end
  return m
end

local function round(v, d)
  local p = 10 ^ (d or 4)
  return math.floor(v * p + 0.5) / p
end

local function round3(v)
  return { round(v[1]), round(v[2]), round(v[3]) }
end

-- ---- build, load, ensure ---------------------------------------------------------------------

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- a robot file: as given (relative to the working directory), in the running script's project
-- (spinal.run.resolve), or in the source tree this module came from; nil when none exists
function M.find_robot(path)
  local p = require("spinal.run").resolve(path)
  if exists(p) then return p end
  local here = debug.getinfo(1, "S").source:match "^@(.*)/lua/spinal/[^/]*$"
  if here and path:sub(1, 1) ~= "/" and exists(here .. "/" .. path) then
    return here .. "/" .. path
  end
  return nil
end

local function mkdir(path)
  local ok = os.execute(("mkdir -p '%s' 2>/dev/null"):format(path:gsub("'", "'\\''")))
  return ok == true or ok == 0
end

local function fail(fmt, ...)
  return nil, fmt:format(...)
end

local function check_opts(opts, who)
  if type(opts) ~= "table" then return fail("%s: expected a table of options, got %s", who,
    type(opts)) end
  local valid = { out = "string", quick = "boolean", seed = "number", robot = "string",
                  seconds = "number", warmup = "number", log = "function",
                  fall_height = "number", grid = "table" }
  for k, v in pairs(opts) do
    if not valid[k] then return fail("%s: unknown option '%s'", who, tostring(k)) end
    if type(v) ~= valid[k] then
      return fail("%s: field '%s': expected a %s, got %s", who, k, valid[k], type(v))
    end
  end
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  o.quick = opts.quick or false
  if o.quick then o.seconds, o.warmup = 2, 1 end
  for k, v in pairs(opts) do o[k] = v end
  if math.type(o.seed) ~= "integer" and o.seed ~= math.floor(o.seed) then
    return fail("%s: field 'seed': expected an integer, got %s", who, tostring(o.seed))
  end
  o.seed = math.tointeger(o.seed)
  if o.grid then
    for i, g in ipairs(o.grid) do
      local where = ("%s: field 'grid': clip %d"):format(who, i)
      if type(g) ~= "table" or not GAIT_ID[g.gait] then
        return fail("%s: field 'gait': expected trot, pace or bound, got %s", where,
          tostring(type(g) == "table" and g.gait or g))
      end
      for _, f in ipairs { "command", "command_to" } do
        local c = g[f]
        if (c ~= nil or f == "command") and (type(c) ~= "table" or #c ~= 3
            or type(c[1]) ~= "number" or type(c[2]) ~= "number" or type(c[3]) ~= "number") then
          return fail("%s: field '%s': expected { vx, vy, wz }", where, f)
        end
      end
      if g.gait_to ~= nil and not GAIT_ID[g.gait_to] then
        return fail("%s: field 'gait_to': expected trot, pace or bound, got %s", where,
          tostring(g.gait_to))
      end
      if g.split ~= "train" and g.split ~= "test" then
        return fail("%s: field 'split': expected train or test, got %s", where, tostring(g.split))
      end
    end
  end
  if o.seconds < 2 / M.RATE or o.seconds > 600 then
    return fail("%s: field 'seconds': expected a number in [%g, 600], got %g", who, 2 / M.RATE,
      o.seconds)
  end
  if o.warmup <= 0 or o.warmup > 60 then
    return fail("%s: field 'warmup': expected a number in (0, 60], got %g", who, o.warmup)
  end
  return o
end

-- build the library in opts.out: clips/<name>.json (spinal's clip JSON, docs/api/motion.md) and
-- index.json. opts: out (required), quick (false), seed (1), robot, seconds, warmup,
-- fall_height, log (a function called with one line per clip). Returns the index table, or nil,
-- message.
function M.build(opts)
  local o, err = check_opts(opts, "gaitlib.build")
  if not o then return nil, err end
  if not o.out or o.out == "" then
    return fail "gaitlib.build: field 'out': expected a directory"
  end
  local dir = o.out:gsub("/+$", "")
  local log = o.log or function() end
  local robot_path = M.find_robot(o.robot)
  if not robot_path then
    return fail("gaitlib.build: field 'robot': %s not found (looked in the working directory, the "
      .. "running script's project and spinal's source tree)", o.robot)
  end
  if not mkdir(dir .. "/clips") then return fail("gaitlib.build: cannot create %s/clips", dir) end
  os.remove(dir .. "/index.json")  -- a library half rebuilt is no library

  local grid = o.grid or M.grid(o.quick)
  local train_keys = {}
  for _, s in ipairs(grid) do
    if s.split == "train" then
      train_keys[settings_key(s.gait, s.command, s.command_to, s.gait_to)] = true
    end
  end
  local rand = lcg(o.seed)
  local clock = os.clock()
  local index = {
    format = M.FORMAT, version = M.VERSION, quick = o.quick, seed = o.seed, rate = M.RATE,
    grid = o.grid and "custom" or (o.quick and "quick" or "full"),
    seconds = o.seconds, warmup = o.warmup, fall_height = o.fall_height, robot = o.robot,
    gaits = {}, excluded_gaits = {}, clips = {}, rejected = {},
  }
  local used_gaits = {}
  for _, s in ipairs(grid) do
    used_gaits[s.gait] = true
    if s.gait_to then used_gaits[s.gait_to] = true end
  end
  for _, g in ipairs(M.GAITS) do
    if used_gaits[g] then index.gaits[#index.gaits + 1] = g end
  end
  for _, e in ipairs(M.EXCLUDED) do
    index.excluded_gaits[#index.excluded_gaits + 1] = { gait = e.gait, reason = e.reason }
  end
  local plants = {}
  local counts = { train = 0, test = 0, rejected = 0 }
  for i, s in ipairs(grid) do
    local key = settings_key(s.gait, s.command, s.command_to, s.gait_to)
    if s.split == "test" and train_keys[key] then
      for _, p in pairs(plants) do p:close() end
      return fail("gaitlib.build: held-out clip '%s' is also a training clip", key)
    end
    local plant = plants[s.gait]
    if not plant then
      plant, err = open_plant(robot_path, s.gait)
      if not plant then
        for _, p in pairs(plants) do p:close() end
        return nil, "gaitlib.build: " .. err
      end
      plants[s.gait] = plant
    end
    local period = 0.3
    local jitter = rand() * period
    local name = s.gait .. "_" .. cmd_file(s.command)
    if s.gait_to then
      name = s.gait .. "_to_" .. s.gait_to .. "_" .. cmd_file(s.command)
      if s.command_to then name = name .. "_to_" .. cmd_file(s.command_to) end
    elseif s.command_to then
      name = name .. "_to_" .. cmd_file(s.command_to)
    end
    local rec, why = record(plant, s, o, jitter)
    local head = ("gaitlib: [%d/%d] %-5s %s: %s"):format(i, #grid, s.split, s.gait, key:sub(
      #s.gait + 2))
    if not rec then
      counts.rejected = counts.rejected + 1
      index.rejected[#index.rejected + 1] = { name = name, split = s.split, gait = s.gait,
        gait_to = s.gait_to or json.null, command = s.command,
        command_to = s.command_to or json.null, reason = why }
      log(head .. ": skipped, the robot " .. why)
    else
      reframe(rec.frames)
      local clip = motion.clip { frames = rec.frames, frame_duration = 1 / M.RATE }
      local file = "clips/" .. name .. ".json"
      local ok, serr = clip:save(dir .. "/" .. file)
      if not ok then
        for _, p in pairs(plants) do p:close() end
        return nil, "gaitlib.build: " .. serr
      end
      -- the clip's own velocities (central differences of its poses) against MuJoCo's
      local S = clip:states()
      local n = S.shape[1]
      local rms = 0
      for r = 1, n do
        for c = 1, 3 do
          rms = rms + (S[r][7 + c] - rec.measured[r][c]) ^ 2
          rms = rms + (S[r][10 + c] - rec.measured[r][3 + c]) ^ 2
        end
      end
      rms = math.sqrt(rms / (6 * n))
      local switches = s.command_to or s.gait_to
      local half = switches and (n - 1) // 2 + 1 or n
      local settle = math.min(M.RATE, (half - 1) // 2)  -- 1 s after the switch
      local entry = {
        name = name, file = file, split = s.split, gait = s.gait, gait_id = GAIT_ID[s.gait],
        gait_to = s.gait_to or json.null,
        kind = s.gait_to and "gait_transition" or s.command_to and "transition" or "steady",
        command = s.command, command_to = s.command_to or json.null,
        switch_s = switches and o.seconds / 2 or json.null,
        seconds = (n - 1) / M.RATE, frames = n, frame_duration = 1 / M.RATE,
        warmup_s = round(o.warmup + jitter),
        -- mean body-frame velocity of the clip (vx, vy, wz) before the switch (whole clip when
        -- steady) and from 1 s after it
        achieved = round3(mean_cols(S, { 8, 9, 13 }, 1, half)),
        achieved_to = switches and round3(mean_cols(S, { 8, 9, 13 }, half + settle, n))
          or json.null,
        velocity_rms_vs_mujoco = round(rms),
      }
      index.clips[#index.clips + 1] = entry
      counts[s.split] = counts[s.split] + 1
      clip:close()
      local a = entry.achieved
      log(("%s: %.0f s, achieved vx %.2f vy %.2f wz %.2f"):format(head, entry.seconds, a[1], a[2],
        a[3]))
    end
  end
  for _, p in pairs(plants) do p:close() end
  index.counts = counts
  index.cpu_seconds = round(os.clock() - clock, 2)
  local ok, werr = require("spinal.run").write_atomic(dir .. "/index.json",
    json.encode(index, { indent = 2 }) .. "\n")
  if not ok then return nil, "gaitlib.build: " .. tostring(werr) end
  return index
end

-- read DIR/index.json: the index, or nil, message
function M.index(dir)
  dir = dir:gsub("/+$", "")
  local path = dir .. "/index.json"
  local f = io.open(path, "r")
  if not f then return fail("%s: no gait library here (no index.json; build one with "
    .. "gaitlib.build or experiments/make_gait_library.lua)", dir) end
  f:close()
  local idx, err = json.read(path)
  if type(idx) ~= "table" then return fail("%s: %s", path, tostring(err)) end
  if idx.format ~= M.FORMAT then
    return fail("%s: field 'format': expected \"%s\", got %s", path, M.FORMAT, tostring(idx.format))
  end
  if type(idx.clips) ~= "table" then return fail("%s: field 'clips': expected a list", path) end
  return idx
end

-- load the library in dir: { train = { clips }, test = { clips }, entries = { train = {...},
-- test = {...} } (the index entries of the clips, in the same order), index = the index,
-- dir = dir }, or nil, message
function M.load(dir)
  if type(dir) ~= "string" or dir == "" then
    return fail("gaitlib.load: expected a directory, got %s", tostring(dir))
  end
  dir = dir:gsub("/+$", "")
  local idx, err = M.index(dir)
  if not idx then return nil, "gaitlib.load: " .. err end
  local lib = { train = {}, test = {}, entries = { train = {}, test = {} }, index = idx,
                dir = dir }
  for i, e in ipairs(idx.clips) do
    local list = (e.split == "train" or e.split == "test") and lib[e.split]
    if type(e.file) ~= "string" or not list then
      return fail("gaitlib.load: %s/index.json: clip %d: expected a file and a split (train or "
        .. "test)", dir, i)
    end
    local clip, cerr = motion.load(dir .. "/" .. e.file)
    if not clip then return nil, "gaitlib.load: " .. cerr end
    list[#list + 1] = clip
    lib.entries[e.split][#lib.entries[e.split] + 1] = e
  end
  return lib
end

-- the clips of one split of a loaded library as { clip =, name =, gait =, kind = } (name: the
-- clip file's name without directory or extension, the one every experiment and checkpoint uses);
-- keep(entry): which index entries to take (nil: all)
function M.named(lib, split, keep)
  local out = {}
  for i, clip in ipairs(lib[split]) do
    local e = lib.entries[split][i]
    if not keep or keep(e) then
      out[#out + 1] = { clip = clip, gait = e.gait, kind = e.kind,
                        name = (e.file or ("clip" .. i)):gsub("^.*/", ""):gsub("%.%w+$", "") }
    end
  end
  return out
end

-- ---- ensure: one build, shared ----------------------------------------------------------------

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function shell(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function sleep(s)
  local ok, host = pcall(require, "spinal.host")
  if ok and host and host.sleep then host.sleep(s) else shell(("sleep %g"):format(s)) end
end

-- this process's id (Linux: /proc/self), or nil
local function pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local line = f:read "l"
  f:close()
  return line and tonumber(line:match "^(%d+)")
end

-- the lock DIR.lock (a directory: made atomically) with the builder's process id inside; a lock
-- whose process is gone is stale and taken over. true when taken.
local function try_lock(lock)
  if shell("mkdir " .. sh_quote(lock) .. " 2>/dev/null") then
    local f = io.open(lock .. "/pid", "w")
    if f then
      f:write(tostring(pid() or ""), "\n")
      f:close()
    end
    return true
  end
  local f = io.open(lock .. "/pid", "r")
  local owner = f and tonumber(f:read "l" or "")
  if f then f:close() end
  if owner and not shell(("kill -0 %d 2>/dev/null"):format(owner)) then
    shell("rm -rf " .. sh_quote(lock))  -- its builder died
  end
  return false
end

local function unlock(lock)
  os.remove(lock .. "/pid")
  shell("rmdir " .. sh_quote(lock) .. " 2>/dev/null")
end

-- the library in dir (default M.default_dir(opts.quick)): loaded when it exists with the same
-- version, quick flag and seed (and, when given, seconds, warmup, fall_height and robot), else
-- built there first. opts: quick,
-- seed, seconds, robot, warmup, fall_height, log (as M.build's). Processes that ensure the same
-- directory at once build it once: the first takes DIR.lock while it builds, the others wait
-- for it (up to opts.wait seconds, default 600) and load what it built. Returns what M.load
-- returns, plus `built` = true when this call built it.
function M.ensure(dir, opts)
  opts = opts or {}
  if type(opts) ~= "table" then return fail("gaitlib.ensure: expected a table of options") end
  if opts.grid or opts.out then
    return fail("gaitlib.ensure: field '%s': ensure keeps the standard grids in dir (use "
      .. "gaitlib.build for others)", opts.grid and "grid" or "out")
  end
  if opts.wait ~= nil and (type(opts.wait) ~= "number" or opts.wait < 0) then
    return fail("gaitlib.ensure: field 'wait': expected seconds >= 0, got %s", tostring(opts.wait))
  end
  dir = (dir or M.default_dir(opts.quick)):gsub("/+$", "")
  local want_seed = opts.seed or M.DEFAULTS.seed
  local function current()
    local idx = M.index(dir)
    if not (idx and idx.version == M.VERSION and idx.grid ~= "custom"
            and idx.quick == (opts.quick or false) and idx.seed == want_seed) then
      return false
    end
    for _, k in ipairs { "seconds", "warmup", "fall_height", "robot" } do
      if opts[k] ~= nil and idx[k] ~= opts[k] then return false end
    end
    return true
  end
  if current() then return M.load(dir) end
  local parent = dir:match "^(.*)/[^/]+$"
  if parent and parent ~= "" and not mkdir(parent) then
    return fail("gaitlib.ensure: cannot create %s", parent)
  end
  local lock, waited, wait = dir .. ".lock", 0, opts.wait or 600
  while not try_lock(lock) do
    if waited >= wait then
      return fail("gaitlib.ensure: %s is locked by another build (%s) for over %g s; remove it if "
        .. "no build is running", dir, lock, wait)
    end
    sleep(0.2)
    waited = waited + 0.2
  end
  if current() then  -- another process built it while this one waited
    unlock(lock)
    return M.load(dir)
  end
  local b = {}
  for k, v in pairs(opts) do
    if k ~= "wait" then b[k] = v end
  end
  b.out = dir
  local pok, ok, err = pcall(M.build, b)
  unlock(lock)
  if not pok then return nil, "gaitlib.ensure: " .. tostring(ok) end
  if not ok then return nil, err end
  local lib, lerr = M.load(dir)
  if lib then lib.built = true end
  return lib, lerr
end

return M
