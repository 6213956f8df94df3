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
--
-- cfg.plant is the robot file's plant section ("model", "mujoco") or any HAL address
-- ("udp://127.0.0.1:9870": a robot behind `spinal bridge`). A plant that cannot reset (udp) is
-- not sent x0: each rollout starts where the robot is.
local M = {}

local robot_lib = require "spinal.robot"
local model_lib = require "spinal.model"
local T = require "spinal.task"
local C = require "spinal.cost"
local P = require "spinal.policy"
local G = require "spinal.grad"
local nn = require "spinal.nn"
local run_lib = require "spinal.run"
local json = require "spinal.json"

-- what the car experiments read from the robot file, by position
M.needs = { state = { "px", "py", "v", "phi" }, action = { "throttle", "steer" } }

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
  plant = "model",  -- the plant to learn on: a robot plant section or a HAL address (udp://...)
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
  local robot = robot_lib.load(run_lib.resolve(o.robot))
  run_lib.require_robot(robot, M.needs, o.experiment or "figure8")
  local plant = run_lib.open_plant(robot, o.plant, o.experiment or "figure8")
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
  return run_lib.rollout(self.plant, pol or self.policy, { steps = self.steps, x0 = self.x0,
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
  if n == 0 then return 0 / 0 end  -- a rollout no longer than the unscored first lap
  return s / n
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

-- an optimiser over the policy's flat parameters: "adam" (default) or "sgd", or "gn" (the
-- Gauss-Newton trust-region step on car's policy and model, o = { radius =, radius_max = }); the
-- object whose state a checkpoint holds (pol:save/load)
function M.optimiser(kind, lr, car, o)
  if kind == "sgd" then return nn.sgd { lr = lr } end
  if kind == "adam" then return nn.adam { lr = lr } end
  if kind == "gn" and car then return require("spinal.optimiser").gn(car.policy, car.model, o) end
  error(("unknown optimiser '%s' (expected adam, sgd or gn)"):format(tostring(kind)), 0)
end

-- method 1: iters x (rollout on the plant, feedback gradient, optimiser step), then one
-- evaluation rollout. opts: iters, lr, optim ("adam", "sgd" or "gn"; or optimiser: one made
-- already, M.optimiser), radius, radius_max and subspace (gn), on_iter(it, row, traj) after each
-- rollout (it = 0 is the nominal controller), on_step(it, opt, out) after each rollout's
-- bookkeeping (checkpoints: opt is the optimiser whose state pol:save keeps), state (out of an
-- earlier call, to continue from state.next). The last update's step is told so (gn takes a
-- cautious one: no rollout will judge it). Returns { costs, errors, grad_norms, faults (iters + 1
-- each: the last is the evaluation; faults counts the ticks a fault flag was set), first = nominal
-- trajectory, last = learned trajectory, data_seconds (learning only), next }. A step that would
-- make the parameters non-finite raises (spinal.nn).
function M.learn(car, opts)
  local objective = car:objective_opts()
  objective.segment = car.cfg.segment
  local kind = opts.optim or "adam"
  local step, opt = require("spinal.optimiser").new(kind, car.policy, car.model, objective,
    { lr = opts.lr or 3e-3, radius = opts.radius, radius_max = opts.radius_max,
      subspace = opts.subspace, optimiser = opts.optimiser })
  local out = opts.state or { costs = {}, errors = {}, grad_norms = {}, faults = {},
                              data_seconds = 0, next = 0 }
  for it = out.next, opts.iters do
    local traj = car:rollout()
    local row = { iter = it, data_seconds = out.data_seconds, faults = run_lib.faults(traj) }
    if it < opts.iters then
      row.cost, row.grad_norm = step(traj, it == opts.iters - 1)
      out.data_seconds = out.data_seconds + traj.data_seconds
    else
      row.cost = car:objective(traj)
    end
    row.radial_error_m = car:radial_error(traj)
    out.costs[it + 1] = row.cost
    out.errors[it + 1] = row.radial_error_m
    out.grad_norms[it + 1] = row.grad_norm or json.null
    out.faults[it + 1] = row.faults
    if it == 0 then out.first = traj end
    out.last = traj
    out.next = it + 1
    if opts.on_iter then opts.on_iter(it, row, traj) end
    if opts.on_step then opts.on_step(it, opt, out) end
  end
  return out
end

-- the settings of a run to resume (cfg.resume = its directory), checked against the command line
function M.resume_settings(cfg)
  return run_lib.resumed_settings(cfg)
end

-- the whole car experiment (car_figure8.lua, car_mujoco.lua): learn, write the run directory
-- (settings, metrics, policy checkpoint, summary, trajectories, plots), print the before/after
-- table; returns the run. cfg.resume = a run directory continues that run where its checkpoint
-- stopped. opts (tests): interrupted = a function for the progress line (spinal.progress).
function M.experiment(name, cfg, opts)
  local sp = require "spinal"
  local F = M
  opts = opts or {}
  local resume = type(cfg.resume) == "string" and cfg.resume ~= "" and cfg.resume or nil
  if resume then cfg = F.resume_settings(cfg) end
  local setup = {}
  for k, v in pairs(cfg) do setup[k] = v end
  setup.experiment = name
  local car = F.setup(setup)
  local run = sp.run.start { name = name, settings = cfg, resume = resume }
  local names = { states = car.robot.state, actions = car.robot.action }
  -- the optimiser whose state the checkpoint holds (adam's moments, gn's trust region)
  local optimiser = F.optimiser(cfg.optim or "adam", cfg.lr or 3e-3, car,
                                { radius = cfg.trust, radius_max = cfg.trust_max })

  -- a resumed run: the policy, optimiser, rng and progress from the checkpoint
  local state = resume and run:resume_state(car.policy, optimiser, cfg.iters) or nil

  local progress = sp.progress { total = cfg.iters, label = name, interrupted = opts.interrupted }
  if state then progress:update(state.next) end
  local result = F.learn(car, {
    iters = cfg.iters, optim = cfg.optim, lr = cfg.lr, optimiser = optimiser, state = state,
    radius = cfg.trust, radius_max = cfg.trust_max,
    on_iter = function(it, row, traj)
      run:log(row)
      if it == 0 then run:save_traj("nominal", traj, names) end
    end,
    on_step = function(it, opt, out)
      run:save_policy("policy.ckpt", car.policy, opt, run_lib.progress_note(out))
      -- iterations counted as updates done: the last rollout only evaluates them
      if it < cfg.iters then
        progress:update(it + 1, { cost = out.costs[it + 1], radial_m = out.errors[it + 1] })
      end
    end,
  })
  progress:done()
  F.report(name, cfg, car, run, result, names)
  run:close()
  return run
end

-- fault ticks over every rollout, of the nominal one and of the evaluation
local function fault_summary(result)
  local total = 0
  for _, n in ipairs(result.faults) do total = total + n end
  return total, result.faults[1] or 0, result.faults[#result.faults] or 0
end

-- write the summary, trajectories and plots of a finished learning run and print the table
function M.report(name, cfg, car, run, result, names)
  local nominal, learned = result.errors[1], result.errors[#result.errors]
  local total, nominal_faults, learned_faults = fault_summary(result)
  local nominal_valid, learned_valid = nominal_faults == 0, learned_faults == 0
  run:save_traj("learned", result.last, names)
  run:summary {
    plant = cfg.plant or "model",
    nominal_radial_error_m = nominal,
    learned_radial_error_m = learned,
    nominal_valid = nominal_valid,
    learned_valid = learned_valid,
    reduction = (nominal_valid and learned_valid) and nominal / learned or json.null,
    nominal_cost = result.costs[1],
    learned_cost = result.costs[#result.costs],
    nominal_faults = nominal_faults,
    learned_faults = learned_faults,
    faults = total,
    faults_per_iter = result.faults,
    data_seconds = result.data_seconds,
    eval_seconds = result.last.data_seconds,
    iters = cfg.iters,
    seed = cfg.seed,
    gamma = cfg.gamma,
    radius = cfg.radius,
    period = cfg.period,
    lr = cfg.lr,
    optim = cfg.optim,
    trust = cfg.trust,
    trust_max = cfg.trust_max,
    costs = result.costs,
    radial_errors_m = result.errors,
    policy = "policy.ckpt",
  }
  if total > 0 then
    io.stderr:write(("%s: warning: the policy faulted on %d ticks (NaN command or state, or the "
      .. "safety filter's safe command%s): metrics of faulted rollouts are marked invalid in "
      .. "summary.json\n"):format(name, total, learned_valid and "" or "; the learned policy's "
      .. "evaluation faulted"))
  end

  -- plots (iteration 0 is the nominal tracker)
  local its = {}
  for i = 1, #result.costs do its[i] = i - 1 end
  local p1 = run:plot { file = "radial_error.png", title = ("car figure-eight, gamma = %g: mean "
    .. "radial error"):format(cfg.gamma), xlabel = "iteration (0 = nominal tracker)",
    ylabel = "mean |r - R| after lap 1 (m)",
    series = { { x = its, y = result.errors, label = "learned policy" },
               { x = { 0, cfg.iters }, y = { nominal, nominal }, label = "nominal tracker",
                 style = "dashed" } } }
  local p2 = run:plot { file = "cost.png", title = "car figure-eight: cost per iteration",
    logy = true, xlabel = "iteration (0 = nominal tracker)", ylabel = "cost J (plant)",
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

  -- the before/after table; a faulted rollout's metric is shown as invalid
  local function metric(v, valid, fmt, width)
    if valid then return (fmt):format(v) end
    return ("%" .. width .. "s"):format("invalid")
  end
  print()
  print(("car figure-eight (R = %g m, T = %g s) on the %s plant; approximate model: every car")
    :format(cfg.radius, cfg.period, cfg.plant or "model"))
  local how = cfg.optim == "gn" and ("gn trust %g..%g"):format(cfg.trust, cfg.trust_max)
              or ("%s lr %g"):format(cfg.optim, cfg.lr)
  print(("parameter x %g; %d iterations x %g s = %.1f s of plant data; %s; seed %d")
    :format(cfg.gamma, cfg.iters, cfg.seconds, result.data_seconds, how, cfg.seed))
  print(("  %-22s %18s %12s %8s"):format("", "radial error (m)", "cost", "faults"))
  print(("  %-22s %s %s %8d"):format("nominal tracker",
    metric(nominal, nominal_valid, "%18.3f", 18),
    metric(result.costs[1], nominal_valid, "%12.1f", 12), nominal_faults))
  print(("  %-22s %s %s %8d"):format("learned policy",
    metric(learned, learned_valid, "%18.3f", 18),
    metric(result.costs[#result.costs], learned_valid, "%12.1f", 12), learned_faults))
  if nominal_valid and learned_valid then
    print(("  %-22s %17.1fx %11.1fx"):format("reduction", nominal / learned,
      result.costs[1] / result.costs[#result.costs]))
  end
  print("run: " .. run.dir)
  local plots = {}
  for _, p in ipairs { p1, p3, p2 } do plots[#plots + 1] = p end
  for i, p in ipairs(plots) do print((i == 1 and "plots: " or "       ") .. p) end
end

return M
