-- figure8.lua: method 1's car on the figure-eight (docs/methods.md, "Car"), shared by the car
-- experiments (spinal.figure8).
--
-- The robot is robots/rc_car.lua: its `model` plant (car_drag with the car's true parameters,
-- RK4, 4 substeps) or its `mujoco` plant (rc_car.xml) is the "real" car, reached through the HAL
-- exactly as a real car would be; its tracker (gains and clamps) is the embedded low-level
-- controller. The approximate model the estimator differentiates is car_drag with every
-- parameter scaled by gamma (explicit Euler, the reference implementation's discrete model). The
-- cost is docs/methods.md's per-step car cost summed after the first lap.
--
--   local F = require "spinal.figure8"
--   local car = F.setup { gamma = 0.5, radius = 1.5, period = 5.5, seconds = 21.5, seed = 1,
--                         hidden = { 64, 64 } }
--   local traj = car:rollout()                      -- the policy on the plant (HAL, lockstep)
--   local g, J = car:gradient(traj)                 -- the feedback estimate
--   car:radial_error(traj)                          -- mean |distance to the active centre - R|
--   F.learn(car, { iters = 15, lr = 3e-3, on_iter = function(it, row) ... end })
--   F.experiment("car_figure8", cfg)   -- the whole experiment: run directory, plots, table
local M = {}

local robot_lib = require "spinal.robot"
local model_lib = require "spinal.model"
local T = require "spinal.task"
local C = require "spinal.cost"
local P = require "spinal.policy"
local G = require "spinal.grad"
local nn = require "spinal.nn"

-- docs/methods.md's simulated car: dv/dt = 11.25 u1 - 0.55 v|v|, dphi/dt = (6.5 u2 + 0.1) v
M.car = { k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 }

M.defaults = {
  robot = "robots/rc_car.lua",
  gamma = 0.5,      -- approximate model = gamma x every true parameter
  radius = 1.5,     -- m, each circle of the figure-eight
  period = 5.5,     -- s, one lap
  seconds = 21.5,   -- s of plant data per rollout (about 4 laps)
  hidden = { 64, 64 },
  seed = 1,
  segment = 0,      -- feedback truncation in control steps (0: full horizon)
  plant = "model",  -- the robot's plant section to learn on ("model" or "mujoco")
}

local Car = {}
Car.__index = Car

-- the approximate model for a mismatch gamma at the robot's rate
function M.model(gamma, rate)
  local p = {}
  for k, v in pairs(M.car) do p[k] = gamma * v end
  return model_lib.new("car_drag", p, { dt = 1 / rate, integrator = "euler" })
end

function M.setup(cfg)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(cfg or {}) do o[k] = v end
  local robot = robot_lib.load(require("spinal.run").resolve(o.robot))
  local plant = assert(robot:open(o.plant))
  local task = T.figure_eight { radius = o.radius, period = o.period }
  local rate = robot.rate
  local r0 = task:eval(0)
  local self = setmetatable({
    cfg = o,
    robot = robot,
    plant = plant,
    task = task,
    rate = rate,
    model = M.model(o.gamma, rate),
    cost = C.car { nx = 4, nu = 2 },
    steps = math.floor(o.seconds * rate + 0.5),
    skip = math.floor(o.period * rate + 0.5),   -- the first lap is not scored
    -- start where the reference starts, at rest, facing along it
    x0 = { r0[1], r0[2], 0, math.atan(r0[4], r0[3]) },
  }, Car)
  self.policy = self:new_policy(o.seed)
  return self
end

-- a fresh policy: the robot's tracker under a network whose last layer is zero
function Car:new_policy(seed)
  return P.tracking { task = self.task, controller = self.robot.controller,
                      hidden = self.cfg.hidden, seed = seed }
end

-- one rollout of the policy (default: the car's) on the plant through the HAL
function Car:rollout(pol, opts)
  opts = opts or {}
  return self.plant:rollout(pol or self.policy, { steps = self.steps, x0 = self.x0,
                                                  seed = opts.seed or 0,
                                                  explore = opts.explore })
end

function Car:objective_opts()
  return { cost = self.cost, task = self.task, skip = self.skip }
end

-- the plant's cost of a recorded trajectory
function Car:objective(traj)
  return G.objective(traj, self:objective_opts())
end

-- the feedback estimate of dJ/dtheta from a recorded trajectory: g, J
function Car:gradient(traj, pol)
  local opts = self:objective_opts()
  opts.segment = self.cfg.segment
  return G.feedback(pol or self.policy, self.model, traj, opts)
end

-- mean absolute radial error (m) after the first lap: |distance to the active centre - R|
function Car:radial_error(traj)
  local X, t, task = traj.X, traj.t, self.task
  local s, n = 0, 0
  for k = self.skip + 1, traj.X.shape[1] - 1 do
    local ref = task:ref(t[k])
    local dx, dy = X[k][1] - ref[7], X[k][2] - ref[8]
    s, n = s + math.abs(math.sqrt(dx * dx + dy * dy) - ref[9]), n + 1
  end
  return s / math.max(n, 1)
end

-- the reference path over one lap, as two lists (for plots)
function Car:reference_path(n)
  n = n or 400
  local xs, ys = {}, {}
  for i = 0, n do
    local r = self.task:eval(self.cfg.period * i / n)
    xs[#xs + 1], ys[#ys + 1] = r[1], r[2]
  end
  return xs, ys
end

-- the scored part of a trajectory's path (after the first lap), as two lists
function Car:path(traj)
  local xs, ys = {}, {}
  for k = self.skip + 1, traj.X.shape[1] do
    xs[#xs + 1], ys[#ys + 1] = traj.X[k][1], traj.X[k][2]
  end
  return xs, ys
end

-- an optimiser over the policy's flat parameters: "adam" (default) or "sgd"
function M.optimiser(kind, lr)
  if kind == "sgd" then return nn.sgd { lr = lr } end
  if kind == "adam" then return nn.adam { lr = lr } end
  error(("unknown optimiser '%s' (expected adam or sgd)"):format(tostring(kind)), 0)
end

-- method 1: iters x (rollout on the plant, feedback gradient, optimiser step), then one
-- evaluation rollout. opts: iters, lr, optim, on_iter(it, row) after each rollout (it = 0 is
-- the nominal controller). Returns { costs, errors (iters + 1 each: the last is the evaluation),
-- first = nominal trajectory, last = learned trajectory, data_seconds (learning only) }
function M.learn(car, opts)
  local opt = M.optimiser(opts.optim or "adam", opts.lr or 3e-3)
  local theta = car.policy:params()
  local out = { costs = {}, errors = {}, grad_norms = {}, data_seconds = 0 }
  for it = 0, opts.iters do
    local traj = car:rollout()
    local row = { iter = it, data_seconds = out.data_seconds }
    if it < opts.iters then
      local g, J = car:gradient(traj)
      row.cost, row.grad_norm = J, g:norm()
      opt:step(theta, g)
      out.data_seconds = out.data_seconds + traj.data_seconds
    else
      row.cost = car:objective(traj)
    end
    row.radial_error_m = car:radial_error(traj)
    out.costs[#out.costs + 1] = row.cost
    out.errors[#out.errors + 1] = row.radial_error_m
    out.grad_norms[#out.grad_norms + 1] = row.grad_norm
    if it == 0 then out.first = traj end
    out.last = traj
    if opts.on_iter then opts.on_iter(it, row) end
  end
  return out
end

-- the whole car experiment (car_figure8.lua, car_mujoco.lua): learn, write the run directory
-- (settings, metrics, summary, trajectories, plots), print the before/after table; returns the run
function M.experiment(name, cfg)
  local sp = require "spinal"
  local F = M
  local run = sp.run.start { name = name, settings = cfg }
  local car = F.setup(cfg)
  local progress = sp.progress { total = cfg.iters + 1, label = name }
  local result = F.learn(car, {
    iters = cfg.iters, lr = cfg.lr, optim = cfg.optim,
    on_iter = function(it, row)
      run:log(row)
      progress:update(it + 1, { cost = row.cost, radial_m = row.radial_error_m })
    end,
  })
  progress:done()

  local nominal, learned = result.errors[1], result.errors[#result.errors]
  run:save_traj("nominal", result.first)
  run:save_traj("learned", result.last)
  run:summary {
    plant = cfg.plant or "model",
    nominal_radial_error_m = nominal,
    learned_radial_error_m = learned,
    reduction = nominal / learned,
    nominal_cost = result.costs[1],
    learned_cost = result.costs[#result.costs],
    data_seconds = result.data_seconds,
    eval_seconds = result.last.data_seconds,
    iters = cfg.iters,
    seed = cfg.seed,
    gamma = cfg.gamma,
    radius = cfg.radius,
    period = cfg.period,
    lr = cfg.lr,
    optim = cfg.optim,
    costs = result.costs,
    radial_errors_m = result.errors,
  }

  -- plots
  local its = {}
  for i = 1, #result.costs do its[i] = i - 1 end
  local p1 = run:plot { file = "radial_error.png", title = ("car figure-eight, gamma = %g: mean "
    .. "radial error"):format(cfg.gamma), xlabel = "iteration (0 = nominal tracker)",
    ylabel = "mean |r - R| after lap 1 (m)",
    series = { { x = its, y = result.errors, label = "learned policy" },
               { x = { 0, cfg.iters }, y = { nominal, nominal }, label = "nominal tracker",
                 style = "dashed" } } }
  run:plot { file = "cost.png", title = "car figure-eight: cost per iteration", logy = true,
    xlabel = "iteration (0 = nominal tracker)", ylabel = "cost J (plant)",
    series = { { x = its, y = result.costs, label = "J" } } }
  local rx, ry = car:reference_path()
  local nx, ny = car:path(result.first)
  local lx, ly = car:path(result.last)
  local p3 = run:plot { file = "path.png", square = true, key = "below", height = 560,
    title = ("car path after lap 1 (R = %g m, T = %g s)"):format(cfg.radius, cfg.period),
    xlabel = "x (m)", ylabel = "y (m)",
    series = { { x = rx, y = ry, label = "reference", style = "dashed" },
               { x = nx, y = ny, label = "nominal", style = "lines" },
               { x = lx, y = ly, label = ("learned (%d iterations)"):format(cfg.iters),
                 style = "lines" } } }

  -- the before/after table
  print()
  print(("car figure-eight (R = %g m, T = %g s) on the %s plant; approximate model: every car")
    :format(cfg.radius, cfg.period, cfg.plant or "model"))
  print(("parameter x %g; %d iterations x %g s = %.1f s of plant data; %s lr %g; seed %d")
    :format(cfg.gamma, cfg.iters, cfg.seconds, result.data_seconds, cfg.optim, cfg.lr, cfg.seed))
  print(("  %-22s %18s %12s"):format("", "radial error (m)", "cost"))
  print(("  %-22s %18.3f %12.1f"):format("nominal tracker", nominal, result.costs[1]))
  print(("  %-22s %18.3f %12.1f"):format("learned policy", learned, result.costs[#result.costs]))
  print(("  %-22s %17.1fx %11.1fx"):format("reduction", nominal / learned,
    result.costs[1] / result.costs[#result.costs]))
  print("run: " .. run.dir)
  if p1 then
    print("plots: " .. p1)
    print("       " .. (p3 or ""))
    print("       " .. run:path "cost.png")
  end
  run:close()
  return run
end

return M
