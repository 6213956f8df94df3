-- quadruped_command.lua: method 2's command following on the MuJoCo quadruped (docs/method2.md,
-- "Command following"): a high-level network h(z | s, command) learns, through the world model and
-- without RL, to drive the frozen motor decoder of an imitation-trained VAE policy so the robot
-- follows body-velocity commands and paths; then it is evaluated on the plant (MuJoCo, not the
-- world model) on commands inside and outside the training range and on paths it never saw.
--
--   spinal experiments/quadruped_command.lua [seed=1] [quick=true] [out=DIR] [pretrained=DIR]
--       [plant=mujoco|udp://HOST:PORT] [library=DIR] [imitate_samples=60000]
--       [rounds=..] [h_iters=..] [collect=..] [wm_iters=..] [hidden=128] [layers=2] [beta=..]
--       [horizon=48] [batch=64] [eval_seconds=8] [circle_radius=1.5] [figure8_radius=1]
--       [clock_period=0.3]
--
-- h sees a gait clock of clock_period seconds (0: none; the library's walking controller steps
-- every leg once per 0.3 s), its phase taken from the start frame (the front-right knee's swing)
-- and running freely on the plant (docs/method2.md, "Command following").
--
-- pretrained=DIR: a quadruped_imitate run directory (or its ckpt/); without it an imitation
-- policy is trained first with quadruped_imitate's defaults (imitate_samples simulator samples;
-- quick=true: its quick settings) and kept in the run's imitate_ckpt/ (pretrained= it next time).
-- Each of `rounds` rounds collects `collect` transitions on the plant with h following random
-- commands of the training range (through the HAL, counted in env_samples), trains the world model
-- `wm_iters` batches on the replay buffer (the imitation data and these), then h `h_iters` batches
-- of `batch` start states, each rolled `horizon` steps through the world model (48: about one
-- second; at 24 steps, with twice the batches, h started a backward walk and let it die out after
-- half a second: the loss never saw that). backward: the share of the nonzero vx commands drawn
-- backward (command.ranges.backward).
--
-- Evaluation, each run from the same reference state (a training clip's first frame, walking at
-- start_command): constant velocity commands
-- inside the training range (command.ranges) and outside it (faster, backwards faster, sharper
-- turns, wider sidesteps) for eval_seconds, the velocity averaged after settle against the
-- command; a circle of radius circle_radius and a figure-eight of loops of radius figure8_radius
-- (radii the training never drew: command.ranges.radii) at speed, the target moving along
-- them: path error = mean distance from the trunk to the moving target (a robot that lags or
-- stands still pays for it), cross-track error = mean distance to the curve.
--
-- summary.json (flat): velocity_error_mps_in_range, velocity_error_mps_out_of_range (mean norm of
-- the horizontal body-velocity error), yaw_rate_error_radps_in_range, ..._out_of_range,
-- path_error_m_circle, path_error_m_figure8 (mean distance to the moving target),
-- path_cross_track_m_circle, ..._figure8 (mean distance to the curve), falls (of all evaluation runs), env_samples (all simulator
-- transitions used for training: imitation's and h's collection), command_samples (h's
-- collection), wall_seconds, train_seconds, per-command lists.
local sp = require "spinal"
local imitate = require "spinal.imitate"
local command = require "spinal.command"
local gaitlib = require "spinal.gaitlib"
local ctrain = require "spinal.command_train"
local has_host, host = pcall(require, "spinal.host")
local function now() return has_host and host.clock() or os.time() end
local t_start = now()

-- h's and the loop's settings are spinal.command_train's (its defaults; quick: its quick ones)
local defaults = {
  seed = 1,
  quick = false,
  out = "",
  pretrained = "",       -- a quadruped_imitate run (or its ckpt/); default: train one first
  plant = "mujoco",
  library = "",
  imitate_samples = 60000,
  -- evaluation
  eval_seconds = 8, settle = 2, speed = 0.4, circle_radius = 1.5,
  figure8_radius = 1.0, path_seconds = 0,    -- 0: one whole lap of each path
  start_command = { 0.25, 0, 0 },
  render = false,
}
for k, v in pairs(ctrain.defaults) do defaults[k] = v end
local cfg = sp.settings(defaults)
if cfg.quick then
  sp.settings.fill(cfg, ctrain.quick)
  sp.settings.fill(cfg, { imitate_samples = 2400, eval_seconds = 2, settle = 0.5, path_seconds = 3 })
end

-- the gait library (the imitation policy's clips, and the evaluation's start state)
local lib, lerr
if cfg.library ~= "" then lib, lerr = gaitlib.load(cfg.library)
else lib, lerr = gaitlib.ensure(nil, { quick = cfg.quick }) end
if not lib then error("quadruped_command: " .. tostring(lerr), 0) end
local train = gaitlib.named(lib, "train")

local run = sp.run.start { name = "quadruped_command", settings = cfg }
local robot = sp.run.require_robot(sp.robot.load(sp.run.resolve "robots/quadruped_joint.lua"),
  { action = { "FR_abd" } }, "quadruped_command")
local plant = sp.run.open_plant(robot, cfg.plant, "quadruped_command")
plant:activate()

-- ---- the imitation policy: given, or trained here ------------------------------------------
local lcfg = { plant = plant, robot = robot, clips = train, seed = cfg.seed }
local L
local t_train = now()
if cfg.pretrained ~= "" then
  local dir = cfg.pretrained
  local f = io.open(dir .. "/ckpt/loop.json", "r")
  if f then f:close() dir = dir .. "/ckpt"
  else
    f = io.open(dir .. "/loop.json", "r")
    if not f then
      error(("quadruped_command: pretrained=%s has neither ckpt/loop.json nor loop.json (expected "
        .. "a quadruped_imitate run directory or its ckpt/)"):format(cfg.pretrained), 0)
    end
    f:close()
  end
  L = imitate.load(dir, lcfg)
  print(("quadruped_command: imitation policy from %s (%d samples)"):format(dir, L.samples))
else
  print(("quadruped_command: training the imitation policy first (%d samples)")
    :format(cfg.imitate_samples))
  L = imitate.pretrain(lcfg, cfg.imitate_samples, { quick = cfg.quick })
  local dir = run:path "imitate_ckpt"
  os.execute(("mkdir -p '%s'"):format(dir))
  L:save(dir)
end
local imitate_samples = L.samples
local dt = L.cfg.dt

-- ---- h: spinal.command_train (the warm start, then the collect / world model / h rounds) ------
local C, info = ctrain.train(L, lib, { plant = plant, seed = cfg.seed, settings = cfg,
                                       label = "quadruped_command",
                                       log = function(row) run:log(row) end })
local command_samples = info.command_samples
local phase_of = command.gait_phases(L.refs, C.h.clock)
local function fell(s) return L:fell(s) end
local train_seconds = now() - t_train
C:save(run:path "command.ckpt")
-- the world model and replay buffer as h's training left them (its collection included), with the
-- VAE, in quadruped_imitate's layout: quadruped_finetune pretrained=<this run> fine-tunes h from
-- the model it was trained through, not the imitation's (which never saw h's gait)
local ckdir = run:path "ckpt"
os.execute(("mkdir -p '%s'"):format(ckdir))
L:save(ckdir)

-- ---- evaluation on the plant -------------------------------------------------------------------
-- the start: the first frame of the steady training clip whose command is nearest start_command
-- (trot preferred): the robot already walking, as every clip starts (the imitation policy stands
-- still from a standing start: the library's walking controller stands at a zero command)
local x0, x0_phase
do
  local best = math.huge
  for i, e in ipairs(lib.entries.train) do
    local c = e.command or { 0, 0, 0 }
    local d = math.abs(c[1] - cfg.start_command[1]) + math.abs(c[2] - cfg.start_command[2])
      + math.abs(c[3] - cfg.start_command[3]) + (e.kind == "steady" and 0 or 10)
      + (e.gait == "trot" and 0 or 1)
    if d < best then best, x0, x0_phase = d, L.refs[i].frames[1], phase_of(i, 1) end
  end
end

local function drive(row, steps)
  local X, Y, V = {}, {}, {}
  local n, down = C:run(plant, { steps = steps, x0 = x0, row = row, lo = L.lo, hi = L.hi,
    fell = fell, phase = x0_phase, on_step = function(i, _, _, s1)
      X[i], Y[i], V[i] = s1[1], s1[2], { s1[8], s1[9], s1[13] }
    end })
  return { X = X, Y = Y, V = V, steps = n, fell = down }
end

local in_range = { { 0.3, 0, 0 }, { 0.5, 0, 0 }, { -0.2, 0, 0 }, { 0, 0.15, 0 }, { 0.3, 0, 0.4 },
                   { 0, 0, -0.5 }, { 0.4, 0, -0.3 } }
local out_range = { { 0.8, 0, 0 }, { -0.45, 0, 0 }, { 0, 0.3, 0 }, { 0, 0, 0.9 }, { 0.5, 0, 0.8 } }
if cfg.quick then in_range, out_range = { { 0.3, 0, 0 }, { 0, 0, 0.4 } }, { { 0.8, 0, 0 } } end
local steps = math.floor(cfg.eval_seconds / dt + 0.5)
local settle = math.floor(cfg.settle / dt + 0.5)
local falls = 0
local per = { command = {}, achieved = {}, velocity_error = {}, yaw_rate_error = {}, fell = {},
              in_range = {} }
local traces = {}
local function velocity_runs(list, inside)
  local ve, we = 0, 0
  for _, c in ipairs(list) do
    local row = command.velocity(c[1], c[2], c[3])
    local d = drive(function() return row end, steps)
    local m, cnt = { 0, 0, 0 }, 0
    for i = d.steps > settle and settle + 1 or 1, d.steps do  -- a fall before settling: all
      for j = 1, 3 do m[j] = m[j] + d.V[i][j] end
      cnt = cnt + 1
    end
    for j = 1, 3 do m[j] = cnt > 0 and m[j] / cnt or 0 / 0 end
    local e = math.sqrt((m[1] - c[1]) ^ 2 + (m[2] - c[2]) ^ 2)
    local ew = math.abs(m[3] - c[3])
    if d.fell then falls = falls + 1 end
    local k = #per.command + 1
    per.command[k], per.achieved[k], per.velocity_error[k], per.yaw_rate_error[k] = c, m, e, ew
    per.fell[k], per.in_range[k] = d.fell, inside
    traces[k] = d
    ve, we = ve + e, we + ew
    print(("  command vx %+.2f vy %+.2f wz %+.2f (%s range): achieved %+.2f %+.2f %+.2f, "
      .. "error %.3f m/s %.3f rad/s%s"):format(c[1], c[2], c[3], inside and "in" or "out of",
      m[1], m[2], m[3], e, ew, d.fell and ", FELL" or ""))
  end
  return ve / #list, we / #list
end
print("quadruped_command: velocity commands on the plant")
local ve_in, we_in = velocity_runs(in_range, true)
local ve_out, we_out = velocity_runs(out_range, false)

local function path_run(path, label)
  local n = path.n - 1
  if cfg.path_seconds > 0 then n = math.min(n, math.floor(cfg.path_seconds / dt + 0.5)) end
  local d = drive(function(i) return path:row(i) end, n)
  local pe, te = 0, 0   -- to the curve, to the moving target
  for i = 1, d.steps do
    pe = pe + path:distance(d.X[i], d.Y[i])
    local t = math.min(i + 1, path.n)
    te = te + math.sqrt((d.X[i] - path.x[t]) ^ 2 + (d.Y[i] - path.y[t]) ^ 2)
  end
  pe, te = pe / d.steps, te / d.steps
  if d.fell then falls = falls + 1 end
  print(("  %s: distance to the moving target %.3f m, to the curve %.3f m over %.1f s%s")
    :format(label, te, pe, d.steps * dt, d.fell and ", FELL" or ""))
  local xs, ys = {}, {}
  for i = 1, math.min(path.n, n + 1) do xs[i], ys[i] = path.x[i], path.y[i] end
  run:plot { file = label .. ".png", title = ("%s (%s): the trunk over the reference")
               :format(label, path.name), xlabel = "x (m)", ylabel = "y (m)", square = true,
             series = { { x = xs, y = ys, label = "reference" },
                        { x = d.X, y = d.Y, label = "robot (MuJoCo)" } } }
  return te, pe, d
end
local start = { x0[1], x0[2], command.yaw_of(x0) }
print("quadruped_command: paths on the plant")
local circle = command.circle { radius = cfg.circle_radius, speed = cfg.speed, dt = dt,
                                start = start }
local fig8 = command.figure8 { radius = cfg.figure8_radius, speed = cfg.speed, dt = dt,
                               start = start }
local target_c, curve_c = path_run(circle, "circle")
local target_f, curve_f = path_run(fig8, "figure8")

-- plots: commanded against achieved, and the first command's velocity over time
do
  local series = {}
  for j, name in ipairs { "vx (m/s)", "vy (m/s)", "wz (rad/s)" } do
    local xs, ys = {}, {}
    for k = 1, #per.command do xs[k], ys[k] = per.command[k][j], per.achieved[k][j] end
    series[#series + 1] = { x = xs, y = ys, label = name, style = "points" }
  end
  series[#series + 1] = { x = { -1, 1 }, y = { -1, 1 }, label = "achieved = commanded" }
  run:plot { file = "commanded_vs_achieved.png", square = true,
             title = "velocity commands on the plant (mean after the first seconds)",
             xlabel = "commanded", ylabel = "achieved", series = series }
  local series2 = {}
  for k = 1, math.min(3, #traces) do
    local t, v = {}, {}
    for i = 1, traces[k].steps do t[i], v[i] = i * dt, traces[k].V[i][1] end
    local c = per.command[k]
    series2[#series2 + 1] = { x = t, y = v, label = ("vx, command %+.2f %+.2f %+.2f")
                                :format(c[1], c[2], c[3]) }
  end
  run:plot { file = "velocity_over_time.png", title = "body forward velocity on the plant",
             xlabel = "t (s)", ylabel = "vx (m/s)", series = series2 }
end

local summary = {
  velocity_error_mps_in_range = ve_in, velocity_error_mps_out_of_range = ve_out,
  yaw_rate_error_radps_in_range = we_in, yaw_rate_error_radps_out_of_range = we_out,
  path_error_m_circle = target_c, path_error_m_figure8 = target_f,
  path_cross_track_m_circle = curve_c, path_cross_track_m_figure8 = curve_f,
  falls = falls, evaluation_runs = #per.command + 2,
  env_samples = imitate_samples + command_samples, imitate_samples = imitate_samples,
  command_samples = command_samples,
  wall_seconds = now() - t_start, train_seconds = train_seconds, seed = cfg.seed,
  circle_radius = cfg.circle_radius, figure8_radius = cfg.figure8_radius,
  path_speed = cfg.speed,
  commands = per.command, achieved = per.achieved, command_velocity_error_mps = per.velocity_error,
  command_yaw_rate_error_radps = per.yaw_rate_error, command_fell = per.fell,
  command_in_range = per.in_range,
}
run:summary(summary)
print(("quadruped_command: velocity error %.3f m/s in range, %.3f out of range; yaw rate error "
  .. "%.3f / %.3f rad/s; path error circle %.3f m, figure-eight %.3f m; falls %d of %d; "
  .. "%d samples (%d for h), %.0f s (training %.0f s)"):format(ve_in, ve_out, we_in, we_out,
  target_c, target_f, falls, summary.evaluation_runs, summary.env_samples, command_samples,
  summary.wall_seconds, train_seconds))
print("run: " .. run.dir)
run:close()
